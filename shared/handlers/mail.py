"""The pooled mailbox's handler: each message updates its thread, and a wait that starts,
moves or ends schedules or cancels the SLA's next step (``shared.rules.sla``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.book import ACCOUNTS, PEOPLE
from shared.events import EventEnvelope, doc_key
from shared.handlers.common import MAIL_THREADS, account_of_sender
from shared.models import MailThread, utc_text
from shared.policy import Policy
from shared.processing import OUTBOX, Decision, Handler, Put, ReadView
from shared.rules.mail import SenderKind, WaitChange, apply_message, classify_sender
from shared.rules.sla import start_wait, when
from shared.store import Where

# Actions not yet carried out: a reply withdraws them (delivery skips a cancelled action).
UNSENT = frozenset({"pending", "published"})


def group_message(policy: Policy) -> Handler:
    group = policy.group_mail

    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        message = event.payload
        thread_key = doc_key(message["mailbox"], message["thread_id"])
        stored = view.get(MAIL_THREADS, thread_key)
        sender = message.get("from")
        in_directory = sender is not None and view.get(PEOPLE, sender) is not None
        kind, _ = classify_sender(message, group.address, in_directory)
        account_id = (stored or {}).get("account_id")
        account = view.get(ACCOUNTS, account_id) if account_id else None
        if account is None and kind is SenderKind.CUSTOMER:
            account = account_of_sender(view, sender)
        previous = MailThread.model_validate(stored) if stored else None
        thread, note, change = apply_message(previous, message, kind)
        decision = Decision(notes=[note])
        if account is not None and thread.account_id is None:
            thread = thread.model_copy(update={"account_id": account["id"], "ta": account.get("ta")})
            decision.notes.append(
                f"'{thread.subject}' belongs to {account.get('name')} (TA {account.get('ta') or 'none'})"
            )

        if change in (WaitChange.ENDED, WaitChange.RESTARTED) and previous is not None:
            decision.notes += _withdraw(view, previous, decision, now)
        if change is not None and change is not WaitChange.ENDED:
            if previous is not None and previous.sla_timer:
                decision.cancel_timers.append(previous.sla_timer)
            ta = view.get(PEOPLE, thread.ta) if thread.ta else None
            timezone = str((ta or {}).get("timezone") or group.time_zone)
            thread, timer = start_wait(thread, timezone, group, policy.calendar, now)
            if timer is not None:
                decision.timers.append(timer)
            assert thread.deadline_at is not None
            decision.notes.append(
                f"SLA: {group.sla_hours:g} {'hours' if group.sla_clock == 'calendar' else 'working hours'}"
                f" ({group.sla_clock}, {timezone}): breached on {when(thread.deadline_at, timezone)}"
                + (
                    f"; next step {thread.next_sla_level} at {utc_text(thread.next_sla_at)}"
                    if thread.next_sla_at
                    else ""
                )
            )
        if kind is SenderKind.TEAM and account is not None:
            decision.changes += _contacted(account, message)
        decision.changes.insert(0, Put(MAIL_THREADS, thread_key, thread.model_dump(mode="json")))
        return decision

    return handle


def _withdraw(view: ReadView, previous: MailThread, decision: Decision, now: datetime) -> list[str]:
    """A reply ended the wait: its pending timer and its unsent reminders and escalations go."""
    notes = []
    if previous.sla_timer:
        decision.cancel_timers.append(previous.sla_timer)
        level = previous.next_sla_level
        step = "reminder" if level == 0 else f"step {level}"
        notes.append(f"the SLA's next {step} is called off")
    # Only a wait that took a step has messages to withdraw (most replies come before any).
    found = (
        view.query(OUTBOX, Where("thread_id", "==", previous.thread_id))
        if previous.sla_level is not None
        else []
    )
    unsent = [
        (action_id, doc)
        for action_id, doc in found
        if doc.get("status") in UNSENT and doc.get("cadence") == "sla"
    ]
    for action_id, doc in unsent:
        decision.changes.append(
            Put(
                OUTBOX,
                action_id,
                {
                    **doc,
                    "status": "cancelled",
                    "cancelled_at": utc_text(now),
                    "cancel_reason": "the team replied",
                },
            )
        )
    if unsent:
        notes.append(f"{len(unsent)} unsent SLA message(s) withdrawn: the team replied")
    return notes


def _contacted(account: dict[str, Any], message: dict[str, Any]) -> list[Put]:
    """A team reply to the account's customer counts as contact (design §6, Contact)."""
    day = str(message["internal_date"])[:10]
    if str(account.get("last_contact") or "") >= day:
        return []
    # The contact rule's reminder names the channel of the last contact.
    channel = "email (pooled mailbox)"
    return [
        Put(ACCOUNTS, str(account["id"]), {**account, "last_contact": day, "last_contact_channel": channel})
    ]
