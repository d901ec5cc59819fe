"""The OOO protocol's test world, shared by the functional OOO tests: Deel-shaped events
for the example book (examples/book.json), the embedded store it is imported into, and
delivery through the real on_pto_logged entry point.

The book: Ana (TA, Berlin; peer Ben) owns Acme (renews 2026-12-18, three-person account
team, a champion) and Globex (red, Lighthouse save plan); Ben (TA, Los Angeles; peer Ana)
owns Initech; Mara is their manager.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from shared import clients
from shared.book import import_book, parse_book
from shared.events import EventEnvelope
from shared.handlers import pto_logged
from shared.policy import Policy
from shared.processing import OUTBOX, Decision, ProcessResult, ReadView, process
from shared.sources import deel
from shared.store import Store
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ABSENCE = "pto-ana-1"


def pto(
    status: str,
    updated: str,
    start: str = "2026-12-14",
    end: str = "2026-12-18",
    who: str = "ana@example.com",
    absence: str = ABSENCE,
    event_type: str = "time-off.reviewed",
) -> EventEnvelope:
    """A Deel time-off webhook for ``who``, normalised as deel_webhook publishes it."""
    body = json.loads((EVENTS / "deel_time_off_reviewed_approved.json").read_text())
    body["data"]["meta"]["event_type"] = event_type
    body["data"]["resource"].update(
        id=absence, status=status, start_date=start, end_date=end, updated_at=updated
    )
    body["data"]["resource"]["requester"]["work_email"] = who
    [event] = deel.normalize(body, NOW)
    return event


def deleted(absence: str = ABSENCE, timestamp: str = "2026-11-30T10:00:00.000Z") -> EventEnvelope:
    body = json.loads((EVENTS / "deel_time_off_deleted_PARTIAL.json").read_text())
    body["data"]["resource"]["time_off_id"] = absence
    body["timestamp"] = timestamp
    [event] = deel.normalize(body, NOW)
    return event


def open_store(monkeypatch: pytest.MonkeyPatch, book_data: dict, policy: Policy) -> Iterator[Store]:
    """The embedded store with the book imported; the outbox is what the tests read."""
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_PUBLISH_ACTIONS", "0")
    monkeypatch.setenv("TAOPS_CLOCK", NOW.isoformat())
    clients.reset()
    import_book(clients.store(), parse_book(book_data), policy)
    yield clients.store()
    clients.reset()


def sender(monkeypatch: pytest.MonkeyPatch) -> Callable[[EventEnvelope], None]:
    """Deliver an event to on_pto_logged as Pub/Sub would, at the time Deel sent it."""
    app = create_app("on_pto_logged", str(ROOT / "main.py"), "cloudevent").test_client()

    def deliver(event: EventEnvelope) -> None:
        # Received when Deel sent it: a version from after the clock would be refused.
        received = max(NOW, event.source_version or NOW)
        monkeypatch.setenv("TAOPS_CLOCK", received.isoformat())
        headers, body = cloud_event(event.to_json(), "pto-logged", event.attributes())
        assert app.post("/", headers=headers, data=body).status_code == 200

    return deliver


def run_in_transaction(
    store: Store, decide: Callable[[ReadView, datetime], Decision], now: datetime, name: str
) -> ProcessResult:
    """``decide`` as the handler of an event of its own, through ``process``: what any
    handler that calls ``replan`` would commit."""
    event = EventEnvelope(
        source="taops",
        type="test.replan",
        event_id=name,
        entity_key=f"test:{name}",
        occurred_at=now,
        received_at=now,
        payload={},
    )
    return process(store, event, lambda view, _event, at: decide(view, at), now)


def run_pto(store: Store, policy: Policy, event: EventEnvelope) -> ProcessResult:
    """A Deel event through the OOO handler directly, for the decision and its notes."""
    received = max(NOW, event.source_version or NOW)
    return process(store, event, pto_logged(policy), received)


def live(store: Store) -> dict[str, dict]:
    """Pending actions by idempotency key (what will still be carried out)."""
    return {d["idempotency_key"]: d for _, d in store.query(OUTBOX) if d["status"] == "pending"}


def kinds(actions: dict[str, dict]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((a["kind"], tuple(a["recipients"])) for a in actions.values())


def deliver_due(store: Store, before: str | None = None) -> None:
    """Pretend delivery ran for every pending action due by ``before`` (None: the
    immediate ones only)."""
    for doc_id, doc in store.query(OUTBOX):
        due = doc["not_before"] is None or (before is not None and doc["not_before"] <= before)
        if doc["status"] == "pending" and due:
            store.put(OUTBOX, doc_id, {**doc, "status": "delivered"})


def summary(actions: list[Any]) -> list[tuple[str, tuple[str, ...], str | None]]:
    """(kind, recipients, not_before) of each action, sorted: what a scenario asserts."""
    return sorted(
        (a.kind, tuple(a.recipients), a.not_before.isoformat() if a.not_before else None) for a in actions
    )
