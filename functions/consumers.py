"""Pub/Sub-triggered entry points: decode the push envelope, run the one processing path,
and map the outcome to the platform: return acknowledges (applied, duplicate, stale and
permanent errors, which are kept in ``dead_letters``); raising makes Pub/Sub retry."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from shared import clients, clock, outbox
from shared.events import EventEnvelope
from shared.exceptions import PermanentError, TransientError
from shared.handlers import health_changed, pto_logged, renewal_changed
from shared.logs import bind, log, trace_field
from shared.outbox import publishing_enabled
from shared.policy import load_policy
from shared.processing import Handler, ProcessResult, dead_letter, run_event
from shared.sources import vitally

T = TypeVar("T")


def pubsub_message(cloud_event: Any) -> tuple[bytes, dict[str, str]]:
    """The message data and attributes of a Pub/Sub CloudEvent (or a raw push body).

    Undecodable data is returned as is: ``run_event`` refuses it and keeps it.
    """
    data = cloud_event.data if hasattr(cloud_event, "data") else cloud_event
    message = data.get("message", {}) if isinstance(data, dict) else {}
    attributes = {str(k): str(v) for k, v in (message.get("attributes") or {}).items()}
    encoded = message.get("data") or ""
    try:
        return base64.b64decode(encoded, validate=True), attributes
    except (binascii.Error, ValueError, TypeError):
        return str(encoded).encode(), attributes


def handle_push(
    raw: bytes,
    attributes: dict[str, str],
    *,
    function: str,
    source: str,
    parse: Callable[[bytes], T],
    act: Callable[[T], dict[str, Any]],
    now: datetime,
) -> dict[str, Any] | None:
    """For pushes that are not taops events (Gmail notifications, scheduler ticks): a
    message that does not parse is acknowledged, logged and kept; ``act`` raising
    ``TransientError`` is logged and raised so Pub/Sub retries."""
    with bind(function=function):
        try:
            parsed = parse(raw)
        except PermanentError as exc:
            kept = dead_letter(
                clients.store(),
                source=source,
                function=function,
                reason=exc.reason,
                raw=raw,
                now=now,
                attributes=attributes,
            )
            log("ERROR", f"push rejected: {exc.reason}", reason=exc.reason, dead_letter=kept)
            return None
        try:
            outcome = act(parsed)
        except TransientError as exc:
            log("WARNING", f"transient failure, will retry: {exc}", retry=True)
            raise
        log("INFO", f"{function} done", **outcome)
        return outcome


def consume(
    cloud_event: Any,
    *,
    function: str,
    source: str,
    handler: Callable[[], Handler],
    refresh: Callable[[EventEnvelope], EventEnvelope] | None = None,
    now: datetime | None = None,
) -> ProcessResult:
    raw, attributes = pubsub_message(cloud_event)
    policy = load_policy()

    def parse(body: bytes | str) -> EventEnvelope:
        event = EventEnvelope.from_json(body)
        return refresh(event) if refresh else event

    trace = getattr(cloud_event, "get", lambda key: None)("traceparent")
    return run_event(
        clients.store(),
        raw,
        function=function,
        source=source,
        parse=parse,
        handler=handler(),
        now=now or clock.now(),
        retention_days=policy.events.marker_retention_days,
        attributes=attributes,
        trace=trace_field(trace),
    )


def on_renewal_changed(cloud_event: Any) -> None:
    consume(
        cloud_event,
        function="on_renewal_changed",
        source="salesforce",
        handler=lambda: renewal_changed(load_policy()),
    )


def on_health_changed(cloud_event: Any) -> None:
    consume(
        cloud_event,
        function="on_health_changed",
        source="vitally",
        handler=lambda: health_changed(load_policy()),
        refresh=lambda event: vitally.refreshed(event, clients.http()),
    )


def on_pto_logged(cloud_event: Any, now: datetime | None = None) -> None:
    at = now or clock.now()
    result = consume(
        cloud_event,
        function="on_pto_logged",
        source="deel",
        handler=lambda: pto_logged(load_policy()),
        now=at,
    )
    publish_new(result, at)


def publish_new(result: ProcessResult, now: datetime) -> None:
    """After the commit: publish the new actions that are already due (the relay does the rest)."""
    if result.new_actions and publishing_enabled():
        docs = [(a.id, {**a.model_dump(mode="json"), "status": "pending"}) for a in result.new_actions]
        outbox.publish(clients.store(), docs, now)
