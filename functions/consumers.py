"""Pub/Sub-triggered entry points: decode the push, hand it to the dispatcher, and map
the outcome to the platform: returning acknowledges (applied, duplicate, stale, and
everything kept in ``dead_letters``); raising makes Pub/Sub retry. What counts as which is
decided in one place, ``shared.faults``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shared import bootstrap, clock
from shared.bootstrap import Context
from shared.dispatch import alert, dispatch
from shared.events import EventEnvelope
from shared.exceptions import ConfigurationError
from shared.faults import settle
from shared.logs import bind, log, trace_field
from shared.processing import ProcessResult
from shared.sources import vitally

T = TypeVar("T")


@dataclass(frozen=True)
class Push:
    """One Pub/Sub message as a push delivers it."""

    data: bytes
    attributes: dict[str, str]
    message_id: str | None = None
    publish_time: datetime | None = None
    trace: str | None = None


def _publish_time(message: dict[str, Any], cloud_event: Any) -> datetime | None:
    stamp = message.get("publishTime") or message.get("publish_time")
    if stamp is None and hasattr(cloud_event, "get"):
        stamp = cloud_event.get("time")
    try:
        moment = datetime.fromisoformat(str(stamp)) if stamp else None
    except ValueError:
        return None
    return moment if moment is None or moment.tzinfo else None


def pubsub_message(cloud_event: Any) -> Push:
    """The message of a Pub/Sub CloudEvent (or a raw push body).

    Undecodable data is returned as is: the parser refuses it and it is kept.
    """
    data = cloud_event.data if hasattr(cloud_event, "data") else cloud_event
    message = data.get("message", {}) if isinstance(data, dict) else {}
    message = message if isinstance(message, dict) else {}
    attributes = {str(k): str(v) for k, v in (message.get("attributes") or {}).items()}
    encoded = message.get("data") or ""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raw = str(encoded).encode()
    trace = cloud_event.get("traceparent") if hasattr(cloud_event, "get") else None
    message_id = message.get("messageId") or message.get("message_id")
    return Push(
        raw, attributes, str(message_id) if message_id else None, _publish_time(message, cloud_event), trace
    )


def receive(
    cloud_event: Any,
    *,
    function: str,
    source: str,
    parse: Callable[[Push, Context, datetime], T],
    act: Callable[[Context, T, datetime], dict[str, Any]],
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Parse a push and act on it; any failure is settled by ``shared.faults``."""
    at = now or clock.now()
    push = pubsub_message(cloud_event)
    with bind(function=function, **trace_field(push.trace)):
        ctx: Context | None = None

        def raise_alert(fault: ConfigurationError) -> None:
            if ctx is not None:
                alert(ctx, fault, at)

        try:
            ctx = bootstrap.cloud(function)
            parsed = parse(push, ctx, at)
            outcome = act(ctx, parsed, at)
        except Exception as exc:  # settle re-raises what is transient
            from shared import clients

            settle(
                ctx.store if ctx is not None else clients.store(),
                exc,
                source=source,
                function=function,
                raw=push.data,
                now=at,
                event_id=push.attributes.get("event_id"),
                attributes=push.attributes,
                alert=raise_alert,
            )
            return None
        log("INFO", f"{function} done", **outcome)
        return outcome


def consume(
    cloud_event: Any,
    *,
    function: str,
    source: str,
    refresh: Callable[[EventEnvelope], EventEnvelope] | None = None,
    now: datetime | None = None,
) -> ProcessResult | None:
    """A taops event from a topic, through the dispatcher."""
    results: list[ProcessResult] = []

    def parse(push: Push, ctx: Context, at: datetime) -> EventEnvelope:
        event = EventEnvelope.from_json(push.data)
        return refresh(event) if refresh else event

    def act(ctx: Context, event: EventEnvelope, at: datetime) -> dict[str, Any]:
        results.append(dispatch(ctx, event, at, attributes=None))
        return {"event_id": event.event_id, "outcome": results[-1].outcome.value}

    receive(cloud_event, function=function, source=source, parse=parse, act=act, now=now)
    return results[0] if results else None


def on_renewal_changed(cloud_event: Any, now: datetime | None = None) -> ProcessResult | None:
    return consume(cloud_event, function="on_renewal_changed", source="salesforce", now=now)


def on_health_changed(cloud_event: Any, now: datetime | None = None) -> ProcessResult | None:
    from shared import clients

    return consume(
        cloud_event,
        function="on_health_changed",
        source="vitally",
        refresh=lambda event: vitally.refreshed(event, clients.http()),
        now=now,
    )


def on_pto_logged(cloud_event: Any, now: datetime | None = None) -> ProcessResult | None:
    return consume(cloud_event, function="on_pto_logged", source="deel", now=now)
