"""``on_group_mail``: a Gmail push for the pooled mailbox → mail thread records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.consumers import handle_push, pubsub_message
from shared import clients, clock
from shared.mailbox import sync_mailbox
from shared.policy import load_policy
from shared.sources.gmail import GmailApi, access_token, decode_notification


def _sync(notification: tuple[str, int], now: datetime) -> dict[str, Any]:
    mailbox, history_id = notification
    api = GmailApi(clients.http(), access_token(mailbox))
    result = sync_mailbox(clients.store(), api, mailbox, history_id, load_policy(), now)
    return {
        "mailbox": mailbox,
        "history_id": history_id,
        "messages": len(result.results),
        "cursor": result.cursor,
        "first_time": result.first_time,
        "resynced": result.resynced,
    }


def on_group_mail(cloud_event: Any, now: datetime | None = None) -> dict[str, Any] | None:
    at = now or clock.now()
    raw, attributes = pubsub_message(cloud_event)
    return handle_push(
        raw,
        attributes,
        function="on_group_mail",
        source="gmail",
        parse=decode_notification,
        act=lambda notification: _sync(notification, at),
        now=at,
    )
