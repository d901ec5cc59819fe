"""``deel_webhook``: Deel time-off webhooks, verified and published to ``pto-logged``."""

from __future__ import annotations

import os
from typing import Any

import flask

from functions.webhooks import Webhook, handle, parse_json
from shared.sources import deel


def _signing_keys() -> list[str]:
    # Read per request: rotating the secret needs no redeploy beyond the new env/secret.
    return [
        k
        for k in (os.environ.get("TAOPS_DEEL_SIGNING_KEY"), os.environ.get("TAOPS_DEEL_SIGNING_KEY_PREVIOUS"))
        if k
    ]


def _authenticate(request: flask.Request, raw: bytes) -> bool:
    return deel.verify(raw, request.headers.get("x-deel-signature"), _signing_keys())


def _tracking_id(body: Any) -> str | None:
    data = body.get("data", body) if isinstance(body, dict) else None
    meta = data.get("meta") if isinstance(data, dict) else None
    return str(meta.get("tracking_id")) if isinstance(meta, dict) and meta.get("tracking_id") else None


DEEL = Webhook(
    function="deel_webhook",
    source="deel",
    topic=deel.PTO_TOPIC,
    authenticate=_authenticate,
    parse=parse_json,
    normalize=deel.normalize,
    vendor_event_id=_tracking_id,
)


def deel_webhook(request: flask.Request) -> flask.Response:
    return handle(DEEL, request)
