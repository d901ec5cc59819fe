"""``on_cadence_tick``: Cloud Scheduler publishes ``{"job": NAME}`` to ``cadence-tick``;
the tick becomes an event (job + the scheduled time it stands for) and goes through the
dispatcher, which runs the job once (``shared.jobs``). A job nobody knows is bad input:
acknowledged, logged and kept in ``dead_letters``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.consumers import Push, receive
from shared import clock
from shared.bootstrap import Context
from shared.dispatch import dispatch
from shared.events import EventEnvelope
from shared.jobs import JOBS, parse_tick, tick_event

__all__ = ["JOBS", "on_cadence_tick"]


def _tick(push: Push, ctx: Context, now: datetime) -> EventEnvelope:
    job, at = parse_tick(push.data)
    # The slot a tick stands for comes from when it was published, so a redelivery hours
    # later is still the same tick; under a fixed or simulated clock (tests, taops dev)
    # publish times are real while "now" is not, and the simulated time decides.
    published = at or (now if clock.is_simulated() else push.publish_time) or now
    return tick_event(job, published, now, ctx.policy)


def _run(ctx: Context, event: EventEnvelope, now: datetime) -> dict[str, Any]:
    result = dispatch(ctx, event, now)
    return {"job": event.payload["job"], "tick": event.event_id, "outcome": result.outcome.value}


def on_cadence_tick(cloud_event: Any, now: datetime | None = None) -> dict[str, Any] | None:
    return receive(cloud_event, function="on_cadence_tick", source="tick", parse=_tick, act=_run, now=now)
