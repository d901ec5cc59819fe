"""``vitally_webhook``: Vitally playbook pings, token-checked and published to ``health-changed``."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import flask

from functions.webhooks import Webhook, handle, parse_json
from shared.events import EventEnvelope
from shared.sources import vitally


def _authenticate(request: flask.Request, raw: bytes) -> bool:
    # Unsigned by Vitally: the playbook's URL carries our secret, in a header or ?token=.
    given = request.headers.get(vitally.TOKEN_HEADER) or request.args.get("token")
    return vitally.token_matches(given, os.environ.get("TAOPS_VITALLY_TOKEN"))


def _normalize(body: Any, received_at: datetime) -> list[EventEnvelope]:
    # The policy names the seat traits a ping may carry (they change seats at once).
    from shared.policy import load_policy

    return vitally.normalize(body, received_at, trait_names=load_policy().vitally.traits.mapped())


VITALLY = Webhook(
    function="vitally_webhook",
    source="vitally",
    topic=vitally.HEALTH_TOPIC,
    authenticate=_authenticate,
    parse=parse_json,
    normalize=_normalize,
    vendor_event_id=vitally.account_id_of,
    unauthenticated="missing or invalid token",
)


def vitally_webhook(request: flask.Request) -> flask.Response:
    return handle(VITALLY, request)
