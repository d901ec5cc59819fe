"""The HTTP edge shared by every vendor webhook: refuse bad requests with a reason and
publish nothing, publish good ones, and answer so the vendor retries only what may succeed.

| request | answer |
| --- | --- |
| not POST | 405 |
| body over 1 MiB | 413 |
| missing or wrong signature / token, org id not allowed | 401 |
| malformed body or schema mismatch | 400 with a one-line reason |
| an event type taops does not use | 200, ignored |
| publish failed | 503 (the vendor retries; Deel nine times) |

Every refusal is logged as one JSON line (with the vendor's event id where there is one)
and its raw body kept in the ``dead_letters`` collection, never logged in full.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import flask

from shared import clients, clock, pubsub
from shared.events import EventEnvelope
from shared.exceptions import PermanentError, TransientError
from shared.logs import bind, log, trace_field
from shared.processing import dead_letter

MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Webhook:
    function: str
    source: str
    topic: str
    authenticate: Callable[[flask.Request, bytes], bool]
    parse: Callable[[bytes], Any]
    normalize: Callable[[Any, datetime], list[EventEnvelope]]
    vendor_event_id: Callable[[Any], str | None] = lambda body: None
    unauthenticated: str = "missing or invalid signature"
    # A check that needs the parsed body (Salesforce's org id allowlist): a reason means 401.
    authorize: Callable[[Any, flask.Request], str | None] = lambda body, request: None
    # The success answer when the vendor expects its own (Salesforce's SOAP Ack); None
    # from it means the default JSON answer.
    respond: Callable[[Any, list[EventEnvelope]], flask.Response | None] = lambda body, events: None


def _answer(status: int, **body: Any) -> flask.Response:
    return flask.Response(json.dumps(body), status=status, mimetype="application/json")


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PermanentError(f"body: not JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None


def handle(hook: Webhook, request: flask.Request, now: datetime | None = None) -> flask.Response:
    now = now or clock.now()
    with bind(function=hook.function, **trace_field(request.headers.get("X-Cloud-Trace-Context"))):
        if request.method != "POST":
            log("WARNING", "refused: method not allowed", method=request.method, status=405)
            return _answer(405, error=f"method {request.method} not allowed: POST only")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            log("WARNING", "refused: body too large", bytes=request.content_length, status=413)
            return _answer(413, error="body over 1 MiB")
        raw = request.get_data(cache=True)
        if len(raw) > MAX_BODY_BYTES:
            log("WARNING", "refused: body too large", bytes=len(raw), status=413)
            return _answer(413, error="body over 1 MiB")

        if not hook.authenticate(request, raw):
            return _refuse(hook, raw, None, 401, hook.unauthenticated, now)
        try:
            body = hook.parse(raw)
            vendor_id = hook.vendor_event_id(body)
        except PermanentError as exc:
            return _refuse(hook, raw, None, 400, exc.reason, now)
        refusal = hook.authorize(body, request)
        if refusal:
            return _refuse(hook, raw, vendor_id, 401, refusal, now)
        try:
            events = hook.normalize(body, now)
        except PermanentError as exc:
            return _refuse(hook, raw, vendor_id, 400, exc.reason, now)

        if not events:
            log("INFO", "ignored: event type not used by taops", vendor_event_id=vendor_id, status=200)
            return hook.respond(body, []) or _answer(200, ignored=True)
        try:
            for event in events:
                pubsub.publish(hook.topic, event.to_json(), event.attributes())
        except TransientError as exc:
            log("ERROR", f"publish failed, vendor will retry: {exc}", vendor_event_id=vendor_id, status=503)
            return _answer(503, error="could not publish; retry later")
        ids = [e.event_id for e in events]
        log(
            "INFO", f"published {len(ids)} event(s) to {hook.topic}", event_ids=ids, vendor_event_id=vendor_id
        )
        return hook.respond(body, events) or _answer(200, published=len(ids), event_ids=ids)


def _refuse(
    hook: Webhook, raw: bytes, vendor_id: str | None, status: int, reason: str, now: datetime
) -> flask.Response:
    kept = None
    try:
        kept = dead_letter(
            clients.store(),
            source=hook.source,
            function=hook.function,
            reason=reason,
            raw=raw,
            now=now,
            event_id=vendor_id,
        )
    except TransientError as exc:  # keeping the body is best effort; the answer is not
        log("ERROR", f"could not keep the refused body: {exc}")
    log(
        "WARNING",
        f"refused: {reason}",
        status=status,
        reason=reason,
        vendor_event_id=vendor_id,
        dead_letter=kept,
    )
    return _answer(status, error=reason)
