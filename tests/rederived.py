"""An action derived again by a rule that did not read it (so ``process`` creates it
unread first): the duplicate is dropped, one taops cancelled is revived, one a person
cancelled stays cancelled. Run on each store (functional: embedded; integration: the
Firestore emulator)."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events import EventEnvelope
from shared.models import Action
from shared.processing import OUTBOX, Decision, Outcome, outbox_document, process
from shared.store import Store

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _action(key: str) -> Action:
    return Action(
        kind="slack.message", at=NOW, recipients=["ana@example.com"], reason="r", idempotency_key=key
    )


def _event(name: str) -> EventEnvelope:
    return EventEnvelope(
        source="taops",
        type="test.rederive",
        event_id=name,
        entity_key=f"test:{name}",
        occurred_at=NOW,
        received_at=NOW,
    )


def check_rederived_actions(store: Store) -> None:
    live, by_taops, by_person, fresh = (_action(k) for k in ("live", "taops", "person", "fresh"))
    seed = _event("seed")
    store.put(OUTBOX, live.id, {**outbox_document(live, seed), "status": "delivered"})
    store.put(OUTBOX, by_taops.id, {**outbox_document(by_taops, seed), "status": "cancelled"})
    store.put(
        OUTBOX,
        by_person.id,
        {**outbox_document(by_person, seed), "status": "cancelled", "cancelled_by": "mara@example.com"},
    )
    before = {i: store.get(OUTBOX, i) for i in (live.id, by_person.id)}

    result = process(
        store,
        _event("again"),
        lambda view, event, now: Decision(actions=[live, by_taops, by_person, fresh]),
        NOW,
    )

    assert result.outcome is Outcome.APPLIED
    assert sorted(a.id for a in result.new_actions) == sorted([by_taops.id, fresh.id])
    assert store.get(OUTBOX, by_taops.id)["status"] == "pending"  # revived
    assert store.get(OUTBOX, fresh.id)["status"] == "pending"
    assert {i: store.get(OUTBOX, i) for i in (live.id, by_person.id)} == before
