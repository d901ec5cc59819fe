"""``deliver_action``: one action from the ``actions`` topic, carried out at most once."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

from functions.consumers import handle_push, pubsub_message
from shared import clients, clock
from shared.delivery import deliver
from shared.exceptions import PermanentError
from shared.policy import load_policy
from shared.sources.gmail import access_token
from shared.sources.senders import build_senders


def parse_action_id(raw: bytes) -> str:
    try:
        action_id = json.loads(raw)["id"]
    except (ValueError, TypeError, KeyError):
        raise PermanentError("not an action: expected a JSON object with an id") from None
    if not isinstance(action_id, str) or not action_id.startswith("act_"):
        raise PermanentError(f"not an action id: {action_id!r}")
    return action_id


def _deliver(action_id: str, now: datetime) -> dict[str, Any]:
    policy = load_policy()
    # A Google Group has no mailbox to send from: mail goes out as a user (TAOPS_MAIL_SENDER).
    sender = os.environ.get("TAOPS_MAIL_SENDER") or policy.group_mail.address
    senders = build_senders(clients.http(), access_token, sender)
    outcome = deliver(clients.store(), action_id, senders, policy.delivery, now)
    return {"action_id": action_id, "status": outcome.status, "attempts": outcome.attempts}


def deliver_action(cloud_event: Any, now: datetime | None = None) -> dict[str, Any] | None:
    at = now or clock.now()
    raw, attributes = pubsub_message(cloud_event)
    return handle_push(
        raw,
        attributes,
        function="deliver_action",
        source="actions",
        parse=parse_action_id,
        act=lambda action_id: _deliver(action_id, at),
        now=at,
    )
