"""The outbox relay publishes what is due and reads nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.outbox import relay
from shared.processing import OUTBOX
from shared.store import EmbeddedStore

NOW = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)


def _action(status: str, not_before: str | None) -> dict[str, object]:
    return {"kind": "slack.status", "status": status, "not_before": not_before, "idempotency_key": "k"}


def test_relay_publishes_undeferred_and_fallen_due_actions_only() -> None:
    store = EmbeddedStore()
    store.put_many(
        [
            (OUTBOX, "a-now", _action("pending", None)),
            (OUTBOX, "b-due", _action("pending", "2026-12-14T08:00:00Z")),
            (OUTBOX, "c-exactly-due", _action("pending", "2026-12-14T09:00:00Z")),
            (OUTBOX, "d-next-month", _action("pending", "2027-01-14T08:00:00Z")),
            (OUTBOX, "e-published", _action("published", None)),
            (OUTBOX, "f-cancelled", _action("cancelled", "2026-12-01T00:00:00Z")),
        ]
    )
    sent: list[str] = []

    def publisher(data: bytes, attributes: dict[str, str]) -> str:
        sent.append(attributes["action_id"])
        return f"m-{len(sent)}"

    reads_before = store.reads
    assert relay(store, NOW, publisher) == {"due": 3, "published": 3}
    assert sent == ["a-now", "b-due", "c-exactly-due"]
    # The relay's queries returned only the three due actions (one read each); the action
    # deferred to next month was never read.
    assert store.reads - reads_before == 3 + 3  # the queries, then each action re-read to mark it
    statuses = {i: d["status"] for i, d in store.query(OUTBOX)}
    assert statuses == {
        "a-now": "published",
        "b-due": "published",
        "c-exactly-due": "published",
        "d-next-month": "pending",
        "e-published": "published",
        "f-cancelled": "cancelled",
    }
    # A second run finds nothing left to do.
    assert relay(store, NOW, publisher) == {"due": 0, "published": 0}
