"""The pooled mailbox's SLA on the deployed path: the real Firestore and Pub/Sub
emulators, every function driven through the functions framework by the messages Pub/Sub
carries (webhook → topic → consumer; Gmail push → on_group_mail; scheduler tick →
on_cadence_tick; actions → deliver_action in dry run). Gmail's API is mocked at the HTTP
layer in its documented shapes.

The same scenario replayed on the embedded store must end in the same state and the same
actions; and a tick racing a team reply must never escalate an answered thread.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from shared import clients
from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.dev import deel_body
from shared.dispatch import dispatch
from shared.jobs import tick_event
from shared.models import utc_text
from shared.processing import OUTBOX, PROCESSED, TIMERS
from shared.replay import replay
from shared.sources.gmail import normalize_message
from shared.store import Store, Where
from shared.store.firestore import FirestoreStore
from tests.gmail_messages import GROUP, gmail_message, line
from tests.integration.deployed import outbox_view

ROOT = Path(__file__).resolve().parents[2]
KEY = "deel-key"
GMAIL = "https://gmail.test/gmail/v1"
DEEL = json.loads((ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text())
TOPICS = ("pto-logged", "gmail-push", "cadence-tick", "actions")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def scenario() -> list[str]:
    """Ana (Acme's TA) and Mara (the TA manager) away; Jo writes on Tuesday; nobody answers.
    The ticks are the ones Cloud Scheduler would fire at the moments something is due."""

    def away(who: str, name: str, absence: str, received: str) -> str:
        body = deel_body(
            DEEL, email=who, name=name, start=date(2026, 12, 14), end=date(2026, 12, 18), absence_id=absence
        )
        return line(at(received), "deel", json.loads(body))

    wrote = at("2026-12-15T10:00:00")
    return [
        away("ana@example.com", "Ana Ruiz", "pto-ana", "2026-11-30T09:00:00"),
        away("mara@example.com", "Mara Okafor", "pto-mara", "2026-11-30T09:05:00"),
        line(at("2026-12-09T00:00:00"), "tick", {"job": "outbox-relay"}),
        line(at("2026-12-14T00:00:00"), "tick", {"job": "outbox-relay"}),
        line(
            wrote,
            "gmail",
            gmail_message("m1", "t-acme", "jo@acme.test", "Login broken", wrote, name="Jo Acme"),
        ),
        line(at("2026-12-16T22:00:00"), "tick", {"job": "sla-check"}),
        line(at("2026-12-16T22:00:20"), "tick", {"job": "sla-check"}),  # fired twice
        line(at("2026-12-17T10:00:00"), "tick", {"job": "sla-check"}),
        line(at("2026-12-17T17:00:00"), "tick", {"job": "outbox-relay"}),
        line(at("2026-12-17T22:00:00"), "tick", {"job": "sla-check"}),
        line(at("2026-12-18T10:00:00"), "tick", {"job": "sla-check"}),
        line(at("2026-12-18T15:00:00"), "tick", {"job": "outbox-relay"}),
    ]


def test_the_deployed_path_ends_in_the_same_state_and_actions_as_the_replay(
    deployed, monkeypatch, book_data, policy
) -> None:
    lines = scenario()
    replayed = replay(lines, parse_book(book_data), policy)
    deployed.run(lines)
    live = clients.store().dump()

    ladder = sorted(
        (doc["sla_level"], doc["recipients"][0], doc["status"])
        for doc in live[OUTBOX].values()
        if doc.get("cadence") == "sla"
    )
    assert ladder == [
        (0, "ben@example.com", "delivered"),
        (1, "ben@example.com", "delivered"),
        (2, "dana@example.com", "delivered"),
        (3, "dana@example.com", "delivered"),
    ]
    assert outbox_view(live[OUTBOX]) == outbox_view(replayed.state[OUTBOX])
    for collection in ("mail_threads", "coverage_plans", "absences", "accounts"):
        assert live[collection] == replayed.state[collection], collection
    assert live[TIMERS] == replayed.state[TIMERS]
    # Only the renewal processes of the imported accounts wait (no renewal-process tick here).
    assert sorted(t["key"] for t in live[TIMERS].values()) == [
        "renewal-start:acme:2026-12-18",
        "renewal-start:globex:2027-04-30",
    ]
    outcomes = {marker: doc["outcome"] for marker, doc in live[PROCESSED].items()}
    assert outcomes == {marker: doc["outcome"] for marker, doc in replayed.state[PROCESSED].items()}
    assert "dead_letters" not in live


# -- a tick racing a team reply ------------------------------------------------------------

WROTE = at("2026-12-15T10:00:00")
DUE = at("2026-12-16T22:00:00")  # the reminder, 36 working hours later in Berlin
REPLIED = at("2026-12-16T21:30:00")  # the team answered just before it


def _message(message_id: str, thread: str, sender: str, when: datetime, policy) -> Any:
    resource = gmail_message(message_id, thread, sender, "Login broken", when)
    return normalize_message(resource, GROUP, DUE, policy.group_mail.company_domains)


def test_a_tick_arriving_while_a_team_reply_is_processed_never_escalates_the_answered_thread(
    emulators, monkeypatch, book_data, policy
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulators["firestore"])
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", f"taops-race-{uuid.uuid4().hex[:8]}")
    setup = FirestoreStore()
    import_book(setup, parse_book(book_data), policy)
    threads = [f"t{n}" for n in range(8)]
    ctx = Context(store=setup, policy=policy)
    for n, thread in enumerate(threads):
        dispatch(ctx, _message(f"c{n}", thread, "jo@acme.test", WROTE, policy), WROTE)
    assert len(setup.query(TIMERS, Where("job", "==", "sla-check"))) == len(threads)

    # Each function instance has its own client; they meet only in Firestore.
    ticker, replier = FirestoreStore(), FirestoreStore()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def tick() -> None:
        start.wait()
        try:
            dispatch(Context(store=ticker, policy=policy), tick_event("sla-check", DUE, DUE, policy), DUE)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def reply() -> None:
        start.wait()
        try:
            for n, thread in enumerate(threads):
                dispatch(
                    Context(store=replier, policy=policy),
                    _message(f"r{n}", thread, "ben@example.com", REPLIED, policy),
                    DUE,
                )
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=tick), threading.Thread(target=reply)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors

    state: Store = setup
    for thread in threads:
        doc = state.get("mail_threads", f"{GROUP}:{thread}")
        assert doc["waiting"] is False and doc["sla_timer"] is None
        live = [
            a for _, a in state.query(OUTBOX, Where("thread_id", "==", thread)) if a["status"] != "cancelled"
        ]
        assert live == [], f"{thread}: an answered thread was escalated: {live}"
    assert state.query(TIMERS, Where("job", "==", "sla-check")) == []
    # Whichever came first, the tick itself ran once.
    assert state.get(PROCESSED, f"tick:sla-check@{utc_text(DUE)}")["outcome"] == "applied"
    for store in (ticker, replier, setup):
        store.close()
