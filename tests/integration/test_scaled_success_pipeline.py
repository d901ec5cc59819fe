"""Scaled Success on the deployed path (Cloud Scheduler's ticks through on_cadence_tick,
the outbox relay, deliver_action in dry run, on the emulators): the call offer and the
usage recap each once, a duplicated tick changing nothing, the recap waiting out the gap
after the offer, do_not_contact kept as a skip; the same lines replayed on the embedded
store end in the same outbox."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared import clients
from shared.book import parse_book
from shared.processing import OUTBOX, PROCESSED
from shared.replay import replay
from tests.functional.test_scaled_success import GAVIN, RICHARD, UNMANAGED, at, tick
from tests.integration.deployed import outbox_view

LINES = [
    tick(at("2026-11-01T09:00:00"), "call-offer"),
    tick(at("2026-11-01T09:00:30"), "call-offer"),  # Cloud Scheduler fired twice
    tick(at("2026-11-01T09:01:00"), "usage-recap"),
    tick(at("2026-11-06T09:00:00"), "outbox-relay"),  # the held emails fall due
]


@pytest.fixture
def book_data(book_data: dict[str, Any]) -> dict[str, Any]:
    book_data["accounts"] += json.loads(json.dumps(UNMANAGED))
    return book_data


def test_the_call_offer_and_the_recap_go_once_on_the_deployed_path_as_in_replay(
    deployed, book_data, policy
) -> None:
    replayed = replay(LINES, parse_book(book_data), policy)
    deployed.run(LINES)
    live = clients.store().dump()

    customer = sorted(
        (doc["idempotency_key"], doc["recipients"], doc["not_before"], doc["status"])
        for doc in live[OUTBOX].values()
        if doc.get("customer_account")
    )
    assert customer == [
        ("call-offer:hooli:FY2027-Q4", [GAVIN], "2026-11-02T17:00:00Z", "delivered"),
        ("call-offer:pied-piper:FY2027-Q4", [RICHARD], "2026-11-02T09:00:00Z", "delivered"),
        ("call-offer:vandelay:FY2027-Q4:skipped", [], None, "skipped"),
        ("recap:hooli:2026-11", [GAVIN], "2026-11-05T17:00:00Z", "delivered"),
        ("recap:vandelay:2026-11:skipped", [], None, "skipped"),
    ]
    # What the customer reads travelled whole through Pub/Sub to delivery.
    offer = next(d for d in live[OUTBOX].values() if d["idempotency_key"] == "call-offer:hooli:FY2027-Q4")
    assert offer["html"].startswith("<!DOCTYPE html>") and "List-Unsubscribe" in offer["headers"]
    assert offer["dry_run"] is True
    assert outbox_view(live[OUTBOX]) == outbox_view(replayed.state[OUTBOX])
    outcomes = {marker: doc["outcome"] for marker, doc in live[PROCESSED].items()}
    assert outcomes == {marker: doc["outcome"] for marker, doc in replayed.state[PROCESSED].items()}
    assert "dead_letters" not in live
