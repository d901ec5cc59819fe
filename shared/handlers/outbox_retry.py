"""A person sends a failed action again (the dashboard's retry button, ``taops outbox
retry``), recorded with who and when, once, through the dispatcher like every event.

Only a ``failed`` action goes back: to ``pending``, its attempts counted afresh (the
delivery policy's ``max_attempts`` again), the error it failed with kept as
``previous_error`` and the whole ``attempt_log`` kept. The caller publishes it through
``shared.outbox`` after the commit (deployed), else the next ``outbox-relay`` tick does.
"""

from __future__ import annotations

from datetime import datetime

from shared.book import PEOPLE
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import OUTBOX, Decision, Handler, Put, ReadView

OUTBOX_RETRY = "outbox.retry"


def outbox_retry(policy: Policy) -> Handler:
    """``outbox.retry`` {action_id, by, note?}: a failed action pending again, with who and when."""

    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        action_id = str(event.payload.get("action_id") or "")
        by = str(event.payload.get("by") or "").strip().lower()
        note = str(event.payload.get("note") or "").strip() or None
        doc = view.get(OUTBOX, action_id)
        if doc is None:
            raise PermanentError(f"no action {action_id!r} in the outbox")
        if view.get(PEOPLE, by) is None:
            raise PermanentError(f"{by or '(nobody)'} is not in the directory: who retries must be")
        what = (
            f"{action_id} {doc.get('kind')} to {', '.join(doc.get('recipients') or []) or doc.get('channel')}"
        )
        if doc.get("status") != "failed":
            return Decision(notes=[f"{what} is {doc.get('status')}: only a failed action is retried"])
        retries = [*(doc.get("retries") or []), {"by": by, "at": utc_text(now), "note": note}]
        again = {
            **doc,
            "status": "pending",
            "published_at": None,
            "attempts": 0,
            "previous_error": doc.get("last_error"),
            "last_error": None,
            "failure": None,
            "lease_until": None,
            "retried_by": by,
            "retried_at": utc_text(now),
            "retries": retries,
        }
        return Decision(
            changes=[Put(OUTBOX, action_id, again)],
            notes=[f"{what} sent again by {by} (it failed: {doc.get('last_error')})"],
        )

    return handle
