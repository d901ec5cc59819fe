"""The pooled mailbox: one thread record per customer conversation and who owes a reply.

A thread waits from its oldest customer message that no team reply has answered (a reply
answers every customer message sent before it). Messages may arrive out of order, so the
wait is derived from the messages' own times, never from the order they were seen.
Messages from the team, auto-replies and mailer-daemons never start a wait.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.models import MailThread

# Customer message times kept per thread: enough to find the oldest unanswered one.
KEPT_MESSAGE_TIMES = 50
AUTOMATED_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "no-reply", "noreply", "do-not-reply"})
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})


class SenderKind(StrEnum):
    TEAM = "team"
    AUTOMATED = "automated"
    CUSTOMER = "customer"


class WaitChange(StrEnum):
    STARTED = "started"  # nobody was owed a reply; now the team owes one
    MOVED = "moved"  # an older unanswered message arrived late: the same wait, earlier
    ENDED = "ended"  # a team reply answered every customer message
    RESTARTED = "restarted"  # a reply ended the wait and a later message began a new one


def classify_sender(
    message: dict[str, Any], group_address: str, in_directory: bool
) -> tuple[SenderKind, str]:
    """Who wrote: an automated sender (``Auto-Submitted``, ``Precedence: bulk``, a
    mailer-daemon, no sender: they never start or end a wait, even from a team address, as
    a TA's own out-of-office reply would), the team (company domain, the directory, the
    group address itself), or a customer; with the words that say why."""
    sender = message.get("from")
    if not sender:
        return SenderKind.AUTOMATED, "no sender address"
    auto = str(message.get("auto_submitted") or "").strip().lower()
    if auto and auto != "no":
        return SenderKind.AUTOMATED, f"an automatic message (Auto-Submitted: {auto})"
    precedence = str(message.get("precedence") or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return SenderKind.AUTOMATED, f"an automatic message (Precedence: {precedence})"
    if sender.split("@", 1)[0] in AUTOMATED_LOCAL_PARTS:
        return SenderKind.AUTOMATED, f"an automatic sender ({sender})"
    if message.get("from_company_domain") or in_directory or sender == group_address.lower():
        return SenderKind.TEAM, "a team member"
    return SenderKind.CUSTOMER, "a customer"


def waiting_since(thread: MailThread) -> datetime | None:
    """The oldest customer message no team reply has answered."""
    return _oldest_unanswered(thread.customer_messages_at, thread.last_team_reply_at)


def _oldest_unanswered(messages_at: list[datetime], replied: datetime | None) -> datetime | None:
    open_ = [t for t in messages_at if replied is None or t > replied]
    return min(open_) if open_ else None


def apply_message(
    thread: MailThread | dict[str, Any] | None, message: dict[str, Any], kind: SenderKind
) -> tuple[MailThread, str, WaitChange | None]:
    """The thread (its stored document, or the thread already read from it) after one
    message, a sentence saying what it changed, and how its wait changed (None when it did
    not)."""
    at = datetime.fromisoformat(message["internal_date"])
    if isinstance(thread, MailThread):
        current = thread
    elif thread:
        current = MailThread.model_validate(thread)
    else:
        current = MailThread(
            thread_id=message["thread_id"], mailbox=message["mailbox"], subject=message.get("subject") or ""
        )
    before = current.waiting_since if current.waiting else None
    # Every change goes into one update, applied in one copy of the thread.
    update: dict[str, Any] = {}
    subject = current.subject or message.get("subject") or ""
    if not current.subject and message.get("subject"):
        update["subject"] = message["subject"]
    sender = message.get("from")
    if kind is SenderKind.TEAM:
        if current.last_team_reply_at is None or at > current.last_team_reply_at:
            update["last_team_reply_at"] = at
    elif kind is SenderKind.CUSTOMER:
        if current.customer_address is None and sender:
            update.update(customer_address=sender, customer_name=message.get("from_name") or None)
        if current.last_customer_message_at is None or at > current.last_customer_message_at:
            update["last_customer_message_at"] = at
        times = sorted({*current.customer_messages_at, at})[-KEPT_MESSAGE_TIMES:]
        update["customer_messages_at"] = times
    latest = current.last_message_at
    if latest is None or at >= latest:
        update.update(last_message_at=at, last_message_from_team=kind is SenderKind.TEAM)
    after = _oldest_unanswered(
        update.get("customer_messages_at", current.customer_messages_at),
        update.get("last_team_reply_at", current.last_team_reply_at),
    )
    change = _change(before, after)
    update.update(waiting=after is not None, waiting_since=after)
    if change in (WaitChange.STARTED, WaitChange.RESTARTED):
        update.update(sla_level=None, waiting_sender=message.get("from_name") or sender)
    if change in (WaitChange.ENDED, WaitChange.RESTARTED):
        update["answered_waits"] = current.answered_waits + 1
    if change is WaitChange.ENDED:
        update.update(sla_level=None, deadline_at=None, next_sla_level=None, next_sla_at=None, sla_timer=None)
    updated = current.model_copy(update=update)
    return updated, _note(kind, sender, subject, at, change, updated), change


def _change(before: datetime | None, after: datetime | None) -> WaitChange | None:
    if before == after:
        return None
    if before is None:
        return WaitChange.STARTED
    if after is None:
        return WaitChange.ENDED
    return WaitChange.MOVED if after < before else WaitChange.RESTARTED


def _note(
    kind: SenderKind,
    sender: str | None,
    subject: str,
    at: datetime,
    change: WaitChange | None,
    thread: MailThread,
) -> str:
    if kind is SenderKind.TEAM:
        if change is WaitChange.ENDED:
            return f"team replied on '{subject}': the customer is answered"
        if change is WaitChange.RESTARTED:
            return f"team replied on '{subject}', but the customer wrote again after: a new wait begins"
        return f"team message on '{subject}'"
    if kind is SenderKind.AUTOMATED:
        return f"automatic message from {sender or 'no sender'} on '{subject}': no reply owed"
    if change is WaitChange.STARTED:
        return f"{sender} wrote '{subject}': the team owes a reply since {at:%Y-%m-%d %H:%M} UTC"
    if change is WaitChange.MOVED:
        since = f"{at:%Y-%m-%d %H:%M} UTC"
        return f"{sender} wrote '{subject}' earlier than known: the team owes a reply since {since}"
    if thread.waiting:
        since = f"{thread.waiting_since:%Y-%m-%d %H:%M} UTC"
        return f"{sender} wrote again on '{subject}': still waiting since {since}"
    return f"{sender} wrote on '{subject}', already answered by a later team reply"
