"""Syncing the pooled mailbox from a Gmail push: history since the stored cursor, each new
message through the one processing path, then the cursor moved on.

Each message is its own exactly-once event (its id is the Gmail message id), so a crash
half way is safe: the redelivered push replays from the old cursor and the messages
already applied are duplicates. The cursor only ever moves forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.handlers import group_message
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import ProcessResult, process
from shared.sources.gmail import GmailApi, HistoryExpiredError, normalize_message
from shared.store import Store, Transaction

MAILBOXES = "mailboxes"


@dataclass
class SyncResult:
    mailbox: str
    first_time: bool = False
    resynced: bool = False
    cursor: int = 0
    results: list[ProcessResult] = field(default_factory=list)


def _advance(store: Store, mailbox: str, history_id: int, now: datetime) -> int:
    def body(tx: Transaction) -> int:
        current = tx.get(MAILBOXES, mailbox) or {}
        newest = max(int(current.get("history_id", 0)), history_id)
        tx.set(MAILBOXES, mailbox, {**current, "history_id": newest, "synced_at": utc_text(now)})
        return newest

    return store.run_transaction(body)


def sync_mailbox(
    store: Store, api: GmailApi, mailbox: str, notified: int, policy: Policy, now: datetime
) -> SyncResult:
    """Apply every message added since the stored history id; the first push only stores it.

    Raises ``TransientError`` for Gmail or store faults (the push is then redelivered).
    """
    cursor = store.get(MAILBOXES, mailbox)
    if cursor is None:
        return SyncResult(mailbox, first_time=True, cursor=_advance(store, mailbox, notified, now))
    start = int(cursor["history_id"])
    result = SyncResult(mailbox, cursor=start)
    if notified <= start:
        return result  # an older or repeated notification: nothing new
    try:
        ids, latest = api.added_since(mailbox, start)
    except HistoryExpiredError:
        ids, latest, result.resynced = api.recent(mailbox, policy.group_mail.resync_days), notified, True
    handler = group_message(policy)
    for message_id in ids:
        message = api.metadata(mailbox, message_id)
        if message is None:
            continue  # deleted before we looked
        event = normalize_message(message, mailbox, now, policy.group_mail.company_domains)
        result.results.append(
            process(store, event, handler, now, retention_days=policy.events.marker_retention_days)
        )
    result.cursor = _advance(store, mailbox, max(latest, notified), now)
    return result
