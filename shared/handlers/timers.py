"""Durable timers, fired: each due timer is its own event (``timer.fired``), processed
once, and handed to the handler of its ``kind``, which re-decides from the state of its
subject at that moment. The fired timer is removed in the same commit, unless the
handler scheduled it again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from shared.book import ACCOUNTS
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.handlers.common import MAIL_THREADS, ViewDirectory
from shared.models import MailThread
from shared.policy import Policy
from shared.processing import TIMERS, Decision, Handler, Put, ReadView
from shared.rules.sla import SLA_TIMER, escalate
from shared.store import Document

TIMER_FIRED = "timer.fired"

TimerHandler = Callable[[ReadView, Document, datetime, Policy], Decision]


def sla_timer(view: ReadView, timer: Document, now: datetime, policy: Policy) -> Decision:
    """The next SLA step of a waiting thread: taken only if the thread still waits for it."""
    collection, _, thread_key = str(timer["subject"]).partition("/")
    stored = view.get(collection or MAIL_THREADS, thread_key)
    if stored is None:
        return Decision(notes=[f"timer {timer['key']}: its thread is gone, nothing to do"])
    thread = MailThread.model_validate(stored)
    if thread.sla_timer != timer["id"]:
        return Decision(
            notes=[f"'{thread.subject}': answered or rescheduled since, nothing to send ({timer['key']})"]
        )
    account = view.get(ACCOUNTS, thread.account_id) if thread.account_id else None
    people = ViewDirectory(view, now)
    result = escalate(thread, people, account, policy.group_mail, policy.calendar, now)
    decision = Decision(
        changes=[Put(collection or MAIL_THREADS, thread_key, result.thread.model_dump(mode="json"))],
        actions=result.actions,
        notes=result.notes,
    )
    if result.timer is not None:
        decision.timers.append(result.timer)
    return decision


def _registry() -> dict[str, TimerHandler]:
    from shared.handlers.coverage import REPLAN_TIMER, replan_timer_fired
    from shared.handlers.health import health_timer
    from shared.handlers.renewal import renewal_timer
    from shared.rules.health import HEALTH_TIMER
    from shared.rules.renewal import RENEWAL_TIMER

    return {
        SLA_TIMER: sla_timer,
        HEALTH_TIMER: health_timer,
        RENEWAL_TIMER: renewal_timer,
        REPLAN_TIMER: replan_timer_fired,
    }


TIMER_HANDLERS: dict[str, TimerHandler] = _registry()


def timer_event(timer: Document, now: datetime) -> EventEnvelope:
    """The firing of one due timer: its id and due time make the event's id, so a timer
    fired by two ticks is applied once."""
    due = datetime.fromisoformat(str(timer["due_at"]))
    return EventEnvelope.model_construct(  # from a stored timer: known-good values
        source="taops",
        type=TIMER_FIRED,
        event_id=f"{timer['id']}@{timer['due_at']}",
        entity_key=f"timer:{timer['id']}",
        occurred_at=due,
        received_at=now,
        payload={
            "timer_id": timer["id"],
            "key": timer["key"],
            "kind": timer["kind"],
            "due_at": timer["due_at"],
        },
    )


def timer_fired(policy: Policy) -> Handler:
    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        timer = view.get(TIMERS, str(event.payload["timer_id"]))
        if timer is None or timer.get("due_at") != event.payload["due_at"]:
            return Decision(notes=[f"timer {event.payload['key']} was cancelled or moved: nothing to do"])
        handler = TIMER_HANDLERS.get(str(timer.get("kind")))
        if handler is None:
            raise PermanentError(f"timer {timer['key']}: no handler for kind {timer.get('kind')!r}")
        decision = handler(view, timer, now, policy)
        decision.cancel_timers.append(str(timer["id"]))
        return decision

    return handle
