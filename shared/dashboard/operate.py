"""The two things a person can do from the operations view, each an event through the one
dispatcher (logged, applied once, kept with who and why): cancel an action still waiting
in the outbox (``outbox.cancel``, ``shared.handlers.outbox_cancel``) and send a failed one
again (``outbox.retry``, ``shared.handlers.outbox_retry``). Every click is its own event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from shared.bootstrap import Context
from shared.events import EventEnvelope
from shared.models import utc_text

OUTBOX = "outbox"
OUTBOX_CANCEL = "outbox.cancel"  # the contract of shared/handlers/outbox_cancel.py
OUTBOX_RETRY = "outbox.retry"


@dataclass(frozen=True)
class Done:
    ok: bool
    message: str
    status: str | None = None  # the action's status afterwards


def _event(kind: str, action_id: str, payload: dict[str, str | None], now: datetime) -> EventEnvelope:
    return EventEnvelope(
        source="taops",
        type=kind,
        event_id=f"{kind}:{action_id}:{uuid.uuid4().hex}",
        entity_key=f"outbox:{action_id}",
        occurred_at=now,
        received_at=now,
        payload={"action_id": action_id, **payload},
    )


def _run(ctx: Context, event: EventEnvelope, now: datetime, wanted: str) -> Done:
    from shared.dispatch import EVENT_HANDLERS, dispatch
    from shared.processing import Outcome

    if event.type not in EVENT_HANDLERS:
        return Done(False, f"this build of taops has no {event.type} handler yet")
    action_id = str(event.payload["action_id"])
    before = (ctx.store.get(OUTBOX, action_id) or {}).get("status")
    result = dispatch(ctx, event, now)
    after = ctx.store.get(OUTBOX, action_id) or {}
    notes = result.decision.notes if result.decision is not None else []
    message = "; ".join(notes) or result.reason or result.outcome.value
    # Done only when this event moved it (a second click finds it there already).
    ok = result.outcome is Outcome.APPLIED and before != wanted and after.get("status") == wanted
    return Done(ok, message, after.get("status"))


def cancel(ctx: Context, action_id: str, by: str, reason: str, now: datetime) -> Done:
    """Cancel ``action_id`` (pending, or published and not yet sent), recorded with who and why."""
    reason = reason.strip()
    if not reason:
        return Done(False, "say why the action is cancelled")
    event = _event(OUTBOX_CANCEL, action_id, {"by": by.strip().lower(), "reason": reason}, now)
    return _run(ctx, event, now, "cancelled")


def retry(ctx: Context, action_id: str, by: str, note: str | None, now: datetime) -> Done:
    """Send the failed ``action_id`` again: pending, recorded with who and when, and published
    at once where the context publishes (else by the next ``outbox-relay`` tick)."""
    from shared import outbox

    event = _event(
        OUTBOX_RETRY, action_id, {"by": by.strip().lower(), "note": (note or "").strip() or None}, now
    )
    done = _run(ctx, event, now, "pending")
    if not done.ok or ctx.publisher is None:
        return done
    doc = ctx.store.get(OUTBOX, action_id) or {}
    if outbox.publish(ctx.store, [(action_id, doc)], now, ctx.publisher):
        return Done(True, f"{done.message}; published at {utc_text(now)}", "published")
    return Done(True, f"{done.message}; the outbox relay publishes it when it is due", "pending")
