"""The contact rule and the Monday digest on the deployed path (Cloud Scheduler ticks
through on_cadence_tick, a customer email through on_group_mail, delivery in dry run, on
the emulators): each reaction once, the same as the replay of the same lines; and
`taops cadences` on that Firestore state decides without writing.

examples/book.json: Acme Corp's last contact is 2026-11-02 (stale on 3 December); Globex
and Initech have none on record. Ben Cho is in Los Angeles: his messages wait for the
relay tick after his working day begins."""

from __future__ import annotations

from datetime import UTC, datetime

from shared import clients
from shared.book import parse_book
from shared.cli import cadence_report
from shared.processing import OUTBOX, PROCESSED
from shared.replay import replay
from tests.gmail_messages import gmail_message, line
from tests.integration.deployed import outbox_view

ANA, BEN = "ana@example.com", "ben@example.com"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tick(when: str, job: str) -> str:
    return line(at(when), "tick", {"job": job})


LINES = [
    tick("2026-12-03T09:00:00", "contact-check"),
    tick("2026-12-03T09:00:30", "contact-check"),  # Cloud Scheduler fired twice
    line(
        at("2026-12-04T10:00:00"),
        "gmail",
        gmail_message(
            "m-jo", "t-acme", "jo@acme.test", "Upgrade timing", at("2026-12-04T10:00:00"), name="Jo Park"
        ),
    ),
    tick("2026-12-07T08:00:00", "weekly-digest"),
    tick("2026-12-07T17:05:00", "outbox-relay"),  # Ben's held messages fall due
]


def test_contact_and_digest_on_the_deployed_path_match_the_replay_and_happen_once(
    deployed, book_data, policy
) -> None:
    replayed = replay(LINES, parse_book(book_data), policy)
    deployed.run(LINES)
    store = clients.store()
    live = store.dump()

    reactions = sorted(
        (doc["idempotency_key"], doc["recipients"][0], doc["kind"], doc["status"])
        for doc in live[OUTBOX].values()
        if doc.get("cadence") in ("contact", "digest")
    )
    assert reactions == [
        ("contact:acme:2026-11-02", ANA, "slack.message", "delivered"),
        ("contact:globex:never", ANA, "slack.message", "delivered"),
        ("contact:initech:never", BEN, "slack.message", "delivered"),
        (f"digest:2026-W50:{ANA}", ANA, "slack.message", "delivered"),
        (f"digest:2026-W50:{BEN}", BEN, "slack.message", "delivered"),
    ]
    assert outbox_view(live[OUTBOX]) == outbox_view(replayed.state[OUTBOX])
    digest = next(d for d in live[OUTBOX].values() if d["idempotency_key"] == f"digest:2026-W50:{ANA}")
    assert digest["blocks"] == replayed.state[OUTBOX][digest["id"]]["blocks"]
    waiting = next(
        b["text"]["text"] for b in digest["blocks"] if "pooled mailbox" in b.get("text", {}).get("text", "")
    )
    # Friday 11:00 to midnight and Monday to 09:00 in Berlin: 22 of the 48 working hours gone.
    left = "26h00 working hours left"
    assert waiting == f"*Waiting in the pooled mailbox*\n• 'Upgrade timing' from Jo Park (Acme Corp): {left}"
    outcomes = {marker: doc["outcome"] for marker, doc in live[PROCESSED].items()}
    assert outcomes == {marker: doc["outcome"] for marker, doc in replayed.state[PROCESSED].items()}

    # The operations view of the next day, on Firestore: everything owed is done, and
    # asking writes nothing.
    report = cadence_report(store, policy, at("2026-12-08T09:30:00"), ["contact-check", "weekly-digest"])
    assert [(d["key"], d["done"]) for job in report for d in job["due"]] == [
        ("contact:acme:2026-11-02", True),
        ("contact:globex:never", True),
        ("contact:initech:never", True),
        (f"digest:2026-W50:{ANA}", True),
        (f"digest:2026-W50:{BEN}", True),
    ]
    assert store.dump() == live
