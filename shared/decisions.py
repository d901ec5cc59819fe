"""Decisions people take that taops records: stopping an action waiting in the outbox,
and taking an account out of Lighthouse. Each is an event through the dispatcher like any
other (logged, applied once, kept with who and why), whether it comes from the command
line (``taops outbox cancel``, ``taops lighthouse exit``) or from a replayed history (a
``"person"`` line: ``{"decision": "outbox cancel", "key": IDEMPOTENCY_KEY, "by": EMAIL,
"reason": WHY}`` or ``{"decision": "lighthouse exit", "account": ID, "by": EMAIL,
"note": WHY}``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.models import action_id, utc_text

OUTBOX_CANCEL = "outbox.cancel"
LIGHTHOUSE_EXIT = "lighthouse.exit"


def cancel_event(action: str, by: str, reason: str, now: datetime) -> EventEnvelope:
    """``by`` stops the outbox action ``action`` (its id), for ``reason``."""
    return EventEnvelope(
        source="taops",
        type=OUTBOX_CANCEL,
        event_id=f"outbox-cancel:{action}:{utc_text(now)}",
        entity_key=f"outbox:{action}",
        occurred_at=now,
        received_at=now,
        payload={"action_id": action, "by": by.strip().lower(), "reason": reason},
    )


def lighthouse_exit_event(account: str, by: str, note: str | None, now: datetime) -> EventEnvelope:
    """``by`` decides ``account`` leaves Lighthouse (``note``: why)."""
    return EventEnvelope(
        source="taops",
        type=LIGHTHOUSE_EXIT,
        event_id=f"lighthouse-exit:{account}:{utc_text(now)}",
        entity_key=f"lighthouse:{account}",
        occurred_at=now,
        received_at=now,
        payload={"account_id": account, "by": by.strip().lower(), "note": note},
    )


def from_line(payload: Any, at: datetime) -> EventEnvelope:
    """The event of a replayed ``"person"`` line; ``PermanentError`` naming what is wrong."""
    if not isinstance(payload, dict):
        raise PermanentError("person: the payload must be an object with a decision")
    decision = payload.get("decision")
    by = payload.get("by")
    if not isinstance(by, str) or "@" not in by:
        raise PermanentError("by: the email of who decided")
    if decision == "outbox cancel":
        key, given = payload.get("key"), payload.get("action_id")
        if not (isinstance(key, str) and key) and not (isinstance(given, str) and given):
            raise PermanentError("key: the idempotency key (or action_id) of the action to stop")
        target = str(given) if given else action_id(str(key))
        return cancel_event(target, by, str(payload.get("reason") or ""), at)
    if decision == "lighthouse exit":
        account = payload.get("account")
        if not isinstance(account, str) or not account:
            raise PermanentError("account: the id of the account leaving Lighthouse")
        note = payload.get("note")
        return lighthouse_exit_event(account, by, str(note) if note else None, at)
    raise PermanentError(
        f"decision: {str(decision)[:40]!r} is not one taops records (outbox cancel, lighthouse exit)"
    )
