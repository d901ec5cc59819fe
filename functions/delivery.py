"""``deliver_action``: one action from the ``actions`` topic, carried out at most once."""

from __future__ import annotations

import json
import os
from datetime import datetime
from functools import partial
from typing import Any

from functions.consumers import receive
from shared import clients
from shared.alerts import OPS_ALERT
from shared.bootstrap import Context
from shared.delivery import deliver
from shared.exceptions import ConfigurationError, PermanentError
from shared.logs import log
from shared.sources.gmail import CALENDAR_WRITE_SCOPES, DELIVERY_SCOPES, access_token
from shared.sources.senders import build_senders


def parse_action(raw: bytes) -> tuple[str, str]:
    """(action id, kind) from a published action; ``PermanentError`` for anything else."""
    try:
        data = json.loads(raw)
        action_id = data["id"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise PermanentError("not an action: expected a JSON object with an id") from None
    if not isinstance(action_id, str) or not action_id.startswith("act_") or len(action_id) > 100:
        raise PermanentError(f"not an action id: {str(action_id)[:100]!r}")
    return action_id, str(data.get("kind"))


def _deliver(ctx: Context, parsed: tuple[str, str], now: datetime) -> dict[str, Any]:
    action_id, kind = parsed
    # A Google Group has no mailbox to send from: mail goes out as a user (TAOPS_MAIL_SENDER).
    sender = os.environ.get("TAOPS_MAIL_SENDER") or ctx.policy.group_mail.address
    policy = ctx.policy.delivery
    http = clients.http(policy.timeout_seconds, policy.connect_seconds)
    senders = build_senders(
        http,
        partial(access_token, scopes=DELIVERY_SCOPES),
        sender,
        partial(access_token, scopes=CALENDAR_WRITE_SCOPES),
    )
    try:
        outcome = deliver(ctx.store, action_id, senders, ctx.policy.delivery, now)
    except ConfigurationError as exc:
        if kind == OPS_ALERT:
            # The alert channel itself is misconfigured: the action is failed and visible;
            # alerting about the alert would only loop.
            log("ERROR", f"the operators' alert could not be sent: {exc.reason}", action_id=action_id)
            return {"action_id": action_id, "status": "failed", "fault": exc.code}
        raise
    return {"action_id": action_id, "status": outcome.status, "attempts": outcome.attempts}


def deliver_action(cloud_event: Any, now: datetime | None = None) -> dict[str, Any] | None:
    return receive(
        cloud_event,
        function="deliver_action",
        source="actions",
        parse=lambda push, ctx, at: parse_action(push.data),
        act=_deliver,
        now=now,
    )
