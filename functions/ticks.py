"""``on_cadence_tick``: Cloud Scheduler publishes ``{"job": NAME}`` to ``cadence-tick``.

Each job the code knows has a reaction here; the cadence reactions (MBR, QBR, health
traits, contact, digest, Scaled Success) join as their issues build them. A job nobody
knows is a configuration error: acknowledged, logged and kept in ``dead_letters``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from functions.consumers import handle_push, pubsub_message
from shared import clients, clock, outbox, pubsub
from shared.exceptions import PermanentError
from shared.policy import load_policy
from shared.sources.gmail import GmailApi, access_token


def renew_gmail_watch(now: datetime) -> dict[str, Any]:
    """Renew ``users.watch`` on the pooled mailbox (Gmail stops pushing after 7 days)."""
    mailbox = load_policy().group_mail.address
    answer = GmailApi(clients.http(), access_token(mailbox)).watch(mailbox, pubsub.topic_path("gmail-push"))
    return {"mailbox": mailbox, "history_id": answer.get("historyId"), "expiration": answer.get("expiration")}


def relay_outbox(now: datetime) -> dict[str, Any]:
    """Publish actions left unpublished, and deferred ones whose ``not_before`` has passed."""
    return outbox.relay(clients.store(), now)


JOBS: dict[str, Callable[[datetime], dict[str, Any]]] = {
    "gmail-watch": renew_gmail_watch,
    "outbox-relay": relay_outbox,
}


def parse_tick(raw: bytes) -> str:
    try:
        job = json.loads(raw)["job"]
    except (ValueError, TypeError, KeyError):
        raise PermanentError('not a tick: expected {"job": NAME}') from None
    if not isinstance(job, str) or job not in JOBS:
        raise PermanentError(f"no reaction for job {job!r} (known: {', '.join(sorted(JOBS))})")
    return job


def on_cadence_tick(cloud_event: Any, now: datetime | None = None) -> dict[str, Any] | None:
    at = now or clock.now()
    raw, attributes = pubsub_message(cloud_event)
    return handle_push(
        raw,
        attributes,
        function="on_cadence_tick",
        source="tick",
        parse=parse_tick,
        act=lambda job: {"job": job, **JOBS[job](at)},
        now=at,
    )
