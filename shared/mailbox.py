"""Syncing the pooled mailbox from a Gmail push: history since the stored cursor, each new
message through the dispatcher, then the cursor moved on.

Each message is its own exactly-once event (its id is the Gmail message id), so a crash
half way is safe: the redelivered push replays from the old cursor and the messages
already applied are duplicates. A message that cannot be read is kept in
``dead_letters`` and skipped: one malformed message never blocks the mailbox. The cursor
only ever moves forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from shared.bootstrap import Context
from shared.dispatch import dispatch
from shared.exceptions import PermanentError
from shared.faults import settle
from shared.models import utc_text
from shared.processing import ProcessResult
from shared.sources.gmail import HistoryExpiredError, normalize_message
from shared.store import Store, Transaction

MAILBOXES = "mailboxes"


@dataclass
class SyncResult:
    mailbox: str
    first_time: bool = False
    resynced: bool = False
    cursor: int = 0
    results: list[ProcessResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # message ids kept aside as unreadable


def _advance(store: Store, mailbox: str, history_id: int, now: datetime) -> int:
    def body(tx: Transaction) -> int:
        current = tx.get(MAILBOXES, mailbox) or {}
        newest = max(int(current.get("history_id", 0)), history_id)
        tx.set(MAILBOXES, mailbox, {**current, "history_id": newest, "synced_at": utc_text(now)})
        return newest

    return store.run_transaction(body)


def sync_mailbox(ctx: Context, mailbox: str, notified: int, now: datetime) -> SyncResult:
    """Apply every message added since the stored history id; the first push only stores it.

    Raises ``PermanentError`` for a mailbox that is not the pooled one, and
    ``TransientError`` for Gmail or store faults (the push is then redelivered).
    """
    policy = ctx.policy
    if mailbox != policy.group_mail.address.lower():
        raise PermanentError(f"{mailbox} is not the pooled mailbox ({policy.group_mail.address})")
    store = ctx.store
    cursor = store.get(MAILBOXES, mailbox)
    if cursor is None:
        return SyncResult(mailbox, first_time=True, cursor=_advance(store, mailbox, notified, now))
    start = int(cursor["history_id"])
    result = SyncResult(mailbox, cursor=start)
    if notified <= start:
        return result  # an older or repeated notification: nothing new
    api = ctx.mailbox(mailbox)
    try:
        ids, latest = api.added_since(mailbox, start)
    except HistoryExpiredError:
        ids, latest, result.resynced = api.recent(mailbox, policy.group_mail.resync_days), notified, True
    for message_id in ids:
        message: dict[str, object] | None = None
        try:
            message = api.metadata(mailbox, message_id)
            if message is None:
                continue  # deleted before we looked
            event = normalize_message(message, mailbox, now, policy.group_mail.company_domains)
        except Exception as exc:  # settle re-raises what is transient: the push is retried
            settle(
                store,
                exc,
                source="gmail",
                function=ctx.function,
                raw=json.dumps(message if message is not None else {"id": message_id}, default=str),
                now=now,
                event_id=f"{mailbox}:{message_id}",
            )
            result.skipped.append(message_id)
            continue
        result.results.append(dispatch(ctx, event, now))
    result.cursor = _advance(store, mailbox, max(latest, notified), now)
    return result
