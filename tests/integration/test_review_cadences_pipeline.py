"""The MBR and QBR reminders on the deployed path (Cloud Scheduler's ticks through
cadence-tick to on_cadence_tick, each reminder published to actions and delivered in dry
run, on the emulators): each tick fired twice, each reminder once, the same as the replay.

The book is examples/book.json: Ana Ruiz (Berlin) has Acme and Globex, Ben Cho (Los
Angeles) Initech, Alex Grant sells all three. December's MBR week is 14-20 December (its
reminders owed from the 9th); FY2028's first QBR week is 1-7 February (owed from 25 January).
"""

from __future__ import annotations

from datetime import UTC, datetime

from shared import clients
from shared.book import parse_book
from shared.processing import OUTBOX, PROCESSED
from shared.replay import replay
from tests.gmail_messages import line
from tests.integration.deployed import outbox_view


def tick(when: str, job: str) -> str:
    return line(datetime.fromisoformat(when).replace(tzinfo=UTC), "tick", {"job": job})


LINES = [
    tick("2026-12-09T09:00:00", "mbr-reminder"),
    tick("2026-12-09T09:00:40", "mbr-reminder"),  # Cloud Scheduler fired twice
    tick("2026-12-09T17:05:00", "outbox-relay"),  # Ben's reminder, held for 09:00 in LA, goes out
    tick("2026-12-10T09:00:00", "mbr-reminder"),  # the next day's tick: nothing new
    tick("2027-01-25T09:00:00", "qbr-reminder"),
    tick("2027-01-25T09:00:40", "qbr-reminder"),
    tick("2027-01-25T17:05:00", "outbox-relay"),  # the held QBR reminders go out
]


def test_mbr_and_qbr_reminders_on_the_deployed_path_happen_once_as_in_replay(
    deployed, book_data, policy
) -> None:
    replayed = replay(LINES, parse_book(book_data), policy)
    deployed.run(LINES)
    live = clients.store().dump()

    reminders = sorted(
        (doc["idempotency_key"], doc["recipients"][0], doc["not_before"], doc["status"], doc.get("top3"))
        for doc in live[OUTBOX].values()
        if doc.get("cadence") in ("mbr", "qbr")
    )
    qbr = "qbr:alex@example.com:FY2028-Q1"
    sent = "delivered"
    assert reminders == [
        ("mbr:ana@example.com:2026-12", "ana@example.com", None, sent, ["acme", "globex"]),
        ("mbr:ben@example.com:2026-12", "ben@example.com", "2026-12-09T17:00:00Z", sent, ["initech"]),  # LA
        (qbr, "alex@example.com", "2027-01-25T14:00:00Z", sent, None),  # 09:00 in New York
        (f"{qbr}:ana@example.com", "ana@example.com", None, sent, None),
        (f"{qbr}:ben@example.com", "ben@example.com", "2027-01-25T17:00:00Z", sent, None),
        (f"{qbr}:cole@example.com", "cole@example.com", None, sent, None),
        (f"{qbr}:dana@example.com", "dana@example.com", "2027-01-25T15:00:00Z", sent, None),  # Chicago
        (f"{qbr}:vp@example.com", "vp@example.com", "2027-01-25T14:00:00Z", sent, None),
    ]
    assert outbox_view(live[OUTBOX]) == outbox_view(replayed.state[OUTBOX])
    outcomes = {marker: doc["outcome"] for marker, doc in live[PROCESSED].items()}
    assert outcomes == {marker: doc["outcome"] for marker, doc in replayed.state[PROCESSED].items()}
    # Each reminder was its own event, applied once (the second tick of a slot was a duplicate).
    dues = sorted(doc["event_id"] for doc in live[PROCESSED].values() if doc["type"] == "cadence.due")
    assert dues == [
        "mbr:ana@example.com:2026-12",
        "mbr:ben@example.com:2026-12",
        "qbr:alex@example.com:FY2028-Q1",
    ]
    assert "dead_letters" not in live
