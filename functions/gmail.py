"""``on_group_mail``: a Gmail push for the pooled mailbox → mail thread records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from functions.consumers import pubsub_message
from shared import clients
from shared.exceptions import PermanentError, TransientError
from shared.logs import bind, log
from shared.mailbox import SyncResult, sync_mailbox
from shared.policy import load_policy
from shared.processing import dead_letter
from shared.sources.gmail import GmailApi, access_token, decode_notification


def on_group_mail(cloud_event: Any, now: datetime | None = None) -> SyncResult | None:
    now = now or datetime.now(UTC)
    raw, attributes = pubsub_message(cloud_event)
    with bind(function="on_group_mail"):
        try:
            mailbox, history_id = decode_notification(raw)
        except PermanentError as exc:
            kept = dead_letter(
                clients.store(),
                source="gmail",
                function="on_group_mail",
                reason=exc.reason,
                raw=raw,
                now=now,
                attributes=attributes,
            )
            log("ERROR", f"push rejected: {exc.reason}", reason=exc.reason, dead_letter=kept)
            return None
        with bind(mailbox=mailbox, history_id=history_id):
            try:
                api = GmailApi(clients.http(), access_token(mailbox))
                result = sync_mailbox(clients.store(), api, mailbox, history_id, load_policy(), now)
            except TransientError as exc:
                log("WARNING", f"transient failure, will retry: {exc}", retry=True)
                raise
            log(
                "INFO",
                "mailbox synced",
                messages=len(result.results),
                cursor=result.cursor,
                first_time=result.first_time,
                resynced=result.resynced,
            )
            return result
