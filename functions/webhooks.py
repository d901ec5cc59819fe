"""The HTTP edge shared by every vendor webhook: refuse bad requests with a reason and
publish nothing, publish good ones, and answer so the vendor retries only what may succeed.

| request | answer |
| --- | --- |
| not POST | 405 |
| a ``Content-Encoding`` other than identity (gzip...) | 415 with a reason |
| body over 1 MiB (by Content-Length, or counted while a chunked body arrives) | 413 |
| missing or wrong signature / token, org id not allowed | 401 |
| a body that cannot be read or normalised, or a version far in the future | 400 with a one-line reason |
| an event type taops does not use | 200, ignored |
| publish failed (or any ``TransientError``) | 503 (the vendor retries; Deel nine times) |

A body over the limit is refused as soon as the limit is passed: the stream is read in
64 KiB chunks and never buffered past 1 MiB, whether or not it declares its length. An
encoded body is refused rather than decompressed: none of the vendors compresses its
webhooks, a signature covers the bytes as sent, and a small gzip body can inflate a
thousandfold, so accepting it would only add a way to spend memory before authentication.

Anything else raised while reading a body is bad input too (400, logged as an error): a
vendor retrying it for a day cannot change the answer. Every refusal is logged as one JSON
line (with the vendor's event id where there is one) and kept in the ``dead_letters``
collection: an authenticated body as a bounded excerpt, an unauthenticated one only as its
hash, size and header names. Deployed, a webhook holds no database role: the document is
published to ``refused-input`` and ``keep_refused`` stores it (``shared.refused``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import flask
from pydantic import ValidationError

from shared import clients, clock, pubsub, refused
from shared.events import EventEnvelope, check_version, first_problem
from shared.exceptions import PermanentError, TransientError
from shared.faults import Fault, classify, one_line
from shared.logs import bind, log, trace_field
from shared.processing import DEAD_LETTERS, dead_letter_record

MAX_BODY_BYTES = 1024 * 1024
READ_CHUNK_BYTES = 64 * 1024
# No vendor nests deeper than a dozen levels; far deeper JSON only exhausts recursion
# (the parser's, pydantic's, the serializer's) somewhere after it was accepted.
MAX_JSON_DEPTH = 64
# Ids, epoch milliseconds and amounts fit in far fewer characters; a longer literal is
# refused before int() spends time on it (and Python refuses 4,300 digits anyway).
MAX_NUMBER_CHARS = 100
MAX_REASON_CHARS = 300
MAX_VENDOR_ID_CHARS = 200
# How long a webhook waits for its publishes in all: below the 30 s timeout infra/ gives
# webhooks, so a slow Pub/Sub is answered with a 503 (the vendor retries) rather than cut off.
PUBLISH_BUDGET_SECONDS = 20.0
LOGGED_EVENT_IDS = 20


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


def _unread(status: int, error: str) -> flask.Response:
    """A refusal answered without reading the body (or its rest). The functions framework
    reads whatever body is left, whole into memory, before sending any answer that is not
    streamed; this answer is streamed so it does not, and closes the connection so the
    server need not drain the rest either."""
    response = flask.Response(
        iter([json.dumps({"error": error})]), status=status, mimetype="application/json"
    )
    response.headers["Connection"] = "close"
    return response


def _number(text: str, convert: Callable[[str], Any]) -> Any:
    if len(text) > MAX_NUMBER_CHARS:
        raise PermanentError(f"body: a number of {len(text)} characters is too long")
    value = convert(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise PermanentError(f"body: the number {text[:40]} is out of range")
    return value


def _constant(name: str) -> Any:
    raise PermanentError(f"body: {name} is not a JSON number")


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]  # iterative: the point is not to recurse
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or ``PermanentError``: not UTF-8 JSON, NaN or Infinity, a number
    too long or out of a float's range, or nesting deeper than ``MAX_JSON_DEPTH``."""
    try:
        body = json.loads(
            raw,
            parse_int=lambda text: _number(text, int),
            parse_float=lambda text: _number(text, float),
            parse_constant=_constant,
        )
    except RecursionError:
        raise PermanentError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError among them
        raise PermanentError(f"body: not JSON ({exc.__class__.__name__}: {str(exc)[:80]})") from None
    if _too_deep(body, MAX_JSON_DEPTH):
        raise PermanentError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return body


def refusal_reason(exc: Exception) -> str:
    """One bounded line saying why a body was refused, naming the field where one is known."""
    if isinstance(exc, PermanentError):
        text = exc.reason
    elif isinstance(exc, ValidationError):
        text = first_problem(exc)
    elif isinstance(exc, RecursionError):
        text = "body: nested too deep"
    else:
        text = f"unexpected {exc.__class__.__name__}: {exc}"
    return one_line(text, MAX_REASON_CHARS, "…")


def read_body(request: flask.Request, limit: int = MAX_BODY_BYTES) -> bytes | None:
    """The body, read from the request stream a chunk at a time, or None as soon as it is
    longer than ``limit``: a chunked upload with no Content-Length is counted as it
    arrives, never buffered whole. Werkzeug already bounds the stream by Content-Length
    when there is one, and a chunked request by the server's end of input."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = request.stream.read(min(READ_CHUNK_BYTES, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _normalized(hook: Webhook, body: Any, now: datetime) -> tuple[list[EventEnvelope], list[bytes]]:
    events = hook.normalize(body, now)
    for event in events:
        check_version(event, now)
    # Serialised here so a payload that cannot be written is a refusal, not a 500 mid-publish.
    return events, [event.to_json() for event in events]


def handle(hook: Webhook, request: flask.Request, now: datetime | None = None) -> flask.Response:
    now = now or clock.now()
    with bind(function=hook.function, **trace_field(request.headers.get("X-Cloud-Trace-Context"))):
        if request.method != "POST":
            log("WARNING", "refused: method not allowed", method=request.method, status=405)
            return _unread(405, f"method {request.method} not allowed: POST only")
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            log("WARNING", "refused: encoded body", encoding=encoding[:40], status=415)
            return _answer(
                415, error=f"Content-Encoding {encoding[:40]} not accepted: send the body uncompressed"
            )
        if (request.content_length or 0) > MAX_BODY_BYTES:
            log("WARNING", "refused: body too large", bytes=request.content_length, status=413)
            return _unread(413, "body over 1 MiB")
        raw = read_body(request)
        if raw is None:
            log("WARNING", "refused: body too large", bytes=f"over {MAX_BODY_BYTES}", status=413)
            return _unread(413, "body over 1 MiB")

        if not hook.authenticate(request, raw):
            return _refuse(hook, request, raw, None, 401, hook.unauthenticated, now)
        vendor_id = None
        try:
            body = hook.parse(raw)
            vendor_id = (hook.vendor_event_id(body) or "")[:MAX_VENDOR_ID_CHARS] or None
            refusal = hook.authorize(body, request)
            events, messages = ([], []) if refusal else _normalized(hook, body, now)
        except Exception as exc:  # whatever a body makes us raise, a retry raises again...
            if classify(exc) is Fault.TRANSIENT:  # ...unless the fault is ours and passing
                log("ERROR", f"could not read the body, vendor will retry: {exc}", status=503)
                return _answer(503, error="temporary failure; retry later")
            unworded = None if isinstance(exc, PermanentError) else exc.__class__.__name__
            return _refuse(hook, request, raw, vendor_id, 400, refusal_reason(exc), now, unworded)
        if refusal:
            return _refuse(hook, request, raw, vendor_id, 401, refusal, now)

        if not events:
            log("INFO", "ignored: event type not used by taops", vendor_event_id=vendor_id, status=200)
            return hook.respond(body, []) or _answer(200, ignored=True)
        try:
            # All at once, in batches: a Salesforce message of thousands of records is
            # published in a few concurrent requests, well inside the function's timeout.
            pubsub.publish_many(
                hook.topic,
                [(data, event.attributes()) for event, data in zip(events, messages, strict=True)],
                timeout=PUBLISH_BUDGET_SECONDS,
            )
        except TransientError as exc:
            log("ERROR", f"publish failed, vendor will retry: {exc}", vendor_event_id=vendor_id, status=503)
            return _answer(503, error="could not publish; retry later")
        ids = [e.event_id for e in events]
        log(
            "INFO",
            f"published {len(ids)} event(s) to {hook.topic}",
            # A Salesforce message may carry thousands: the line names the first few.
            event_ids=ids[:LOGGED_EVENT_IDS],
            vendor_event_id=vendor_id,
        )
        return hook.respond(body, events) or _answer(200, published=len(ids), event_ids=ids)


def _refuse(
    hook: Webhook,
    request: flask.Request,
    raw: bytes,
    vendor_id: str | None,
    status: int,
    reason: str,
    now: datetime,
    unworded: str | None = None,
) -> flask.Response:
    kept = None
    try:
        kept, doc = dead_letter_record(
            source=hook.source,
            function=hook.function,
            reason=reason,
            raw=raw,
            now=now,
            event_id=vendor_id,
            # Nobody vouched for a 401's body: keeping it would let anyone fill the store.
            trusted=status != 401,
            header_names=list(request.headers.keys()),
        )
        # Deployed, a webhook may not write the database: keep_refused stores it.
        topic = refused.topic()
        if topic:
            pubsub.publish_many(topic, [refused.message(kept, doc)], timeout=refused.PUBLISH_BUDGET_SECONDS)
        else:
            clients.store().put(DEAD_LETTERS, kept, doc)
    except Exception as exc:  # keeping the body is best effort; the answer is not
        log("ERROR", f"could not keep the refused body: {exc.__class__.__name__}: {exc}")
    log(
        # A refusal our own checks did not word is a gap in them, worth an error.
        "ERROR" if unworded else "WARNING",
        f"refused: {reason}",
        status=status,
        reason=reason,
        vendor_event_id=vendor_id,
        dead_letter=kept,
        error_type=unworded,
    )
    return _answer(status, error=reason)
