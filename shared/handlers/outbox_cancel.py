"""A person stops an action waiting in the outbox (``taops outbox cancel``), recorded with
who and why, once, through the dispatcher like every event.

Only what is not on its way yet can be stopped: an action ``pending`` (held for review or
working hours, or not yet published) or ``published`` and not yet claimed by delivery,
which reads the status again and sends nothing cancelled. A cancelled customer email is
never revived: ``shared.rules.customer_email`` sees who cancelled it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shared.book import PEOPLE
from shared.decisions import OUTBOX_CANCEL
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import OUTBOX, Decision, Handler, Put, ReadView

__all__ = ["OUTBOX_CANCEL", "outbox_cancel"]
CANCELLABLE = frozenset({"pending", "published"})


def describe(action_id: str, doc: Mapping[str, Any]) -> str:
    """An action as a person recognises it: its kind, to whom, and its subject if any."""
    to = ", ".join(doc.get("recipients") or []) or str(doc.get("channel") or "-")
    subject = f" ({doc['subject']})" if doc.get("subject") else ""
    return f"{action_id} {doc.get('kind')} to {to}{subject}"


def outbox_cancel(policy: Policy) -> Handler:
    """``outbox.cancel`` {action_id, by, reason}: the action cancelled, with who and why."""

    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        action_id = str(event.payload.get("action_id") or "")
        by = str(event.payload.get("by") or "")
        why = str(event.payload.get("reason") or "").strip()
        if not why:
            raise PermanentError("reason: say why the action is cancelled")
        doc = view.get(OUTBOX, action_id)
        if doc is None:
            raise PermanentError(f"no action {action_id!r} in the outbox")
        if view.get(PEOPLE, by) is None:
            raise PermanentError(f"{by} is not in the directory: who cancels must be")
        status = doc.get("status")
        if status == "cancelled":
            who = f" by {doc['cancelled_by']} ({doc.get('cancel_reason')})" if doc.get("cancelled_by") else ""
            return Decision(notes=[f"{describe(action_id, doc)} was already cancelled{who}"])
        if status not in CANCELLABLE:
            return Decision(notes=[f"{describe(action_id, doc)} is {status}: too late to cancel"])
        cancelled = {
            **doc,
            "status": "cancelled",
            "cancelled_at": utc_text(now),
            "cancelled_by": by,
            "cancel_reason": why,
        }
        return Decision(
            changes=[Put(OUTBOX, action_id, cancelled)],
            notes=[f"{describe(action_id, doc)} cancelled by {by}: {why}"],
        )

    return handle
