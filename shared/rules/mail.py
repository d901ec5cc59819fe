"""The pooled mailbox: one thread record per customer conversation and who owes a reply.

A customer message starts the clock if nobody is already waiting; a reply from the team
at or after the oldest unanswered customer message stops it. Messages may arrive out of
order, so times decide, not arrival.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.models import MailThread


def is_team_sender(
    sender: str | None, company_domains: list[str], group_address: str, in_directory: bool
) -> bool:
    if not sender:
        return False
    domain = sender.rsplit("@", 1)[-1].lower()
    return in_directory or sender == group_address.lower() or domain in {d.lower() for d in company_domains}


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
    return current.model_copy(update=update), note
