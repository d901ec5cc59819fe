"""The pooled mailbox: one thread record per customer conversation and who owes a reply.

A customer message starts the clock if nobody is already waiting; a reply from the team
at or after the oldest unanswered customer message stops it. Messages may arrive out of
order, so times decide, not arrival.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.models import MailThread


def is_team_sender(message: dict[str, Any], group_address: str, in_directory: bool) -> bool:
    """The team wrote it: from a company domain, from someone in the directory, or from
    the group address itself."""
    sender = message.get("from")
    if not sender:
        return False
    return bool(message.get("from_company_domain")) or in_directory or sender == group_address.lower()


def apply_message(
    thread: dict[str, Any] | None, message: dict[str, Any], from_team: bool
) -> tuple[MailThread, str]:
    """The thread after one message, and a sentence saying what it changed."""
    at = datetime.fromisoformat(message["internal_date"])
    current = (
        MailThread.model_validate(thread)
        if thread
        else MailThread(
            thread_id=message["thread_id"], mailbox=message["mailbox"], subject=message.get("subject") or ""
        )
    )
    update: dict[str, Any] = {}
    if not current.subject and message.get("subject"):
        update["subject"] = message["subject"]
    if from_team:
        if current.last_team_reply_at is None or at > current.last_team_reply_at:
            update["last_team_reply_at"] = at
        if current.waiting_since is not None and at >= current.waiting_since:
            update.update(waiting_since=None, escalation_level=0)
            note = f"team replied on '{current.subject or message.get('subject')}': the customer is answered"
        else:
            note = f"team message on '{current.subject or message.get('subject')}'"
    else:
        if current.customer_address is None and message.get("from"):
            update["customer_address"] = message["from"]
        if current.last_customer_message_at is None or at > current.last_customer_message_at:
            update["last_customer_message_at"] = at
        answered = current.last_team_reply_at is not None and current.last_team_reply_at >= at
        if not answered and (current.waiting_since is None or at < current.waiting_since):
            update["waiting_since"] = at
            subject, sender = message.get("subject"), message.get("from")
            note = f"{sender} wrote '{subject}': the team owes a reply since {at:%Y-%m-%d %H:%M}"
        else:
            note = f"{message.get('from')} wrote again on '{message.get('subject')}'"
    latest = current.last_message_at
    if latest is None or at >= latest:
        update.update(last_message_at=at, last_message_from_team=from_team)
    return current.model_copy(update=update), note
