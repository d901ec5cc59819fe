"""``on_group_mail``: a Gmail push for the pooled mailbox → its new messages, each through
the dispatcher (thread records, SLA waits and their timers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.consumers import receive
from shared.bootstrap import Context
from shared.mailbox import sync_mailbox
from shared.sources.gmail import decode_notification


def _sync(ctx: Context, notification: tuple[str, int], now: datetime) -> dict[str, Any]:
    mailbox, history_id = notification
    result = sync_mailbox(ctx, mailbox, history_id, now)
    return {
        "mailbox": mailbox,
        "history_id": history_id,
        "messages": len(result.results),
        "skipped": result.skipped,
        "cursor": result.cursor,
        "first_time": result.first_time,
        "resynced": result.resynced,
    }


def on_group_mail(cloud_event: Any, now: datetime | None = None) -> dict[str, Any] | None:
    return receive(
        cloud_event,
        function="on_group_mail",
        source="gmail",
        parse=lambda push, ctx, at: decode_notification(push.data),
        act=_sync,
        now=now,
    )
