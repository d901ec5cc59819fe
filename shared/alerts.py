"""Telling the operators about faults only they can fix (design §4, "ack or retry, on
purpose"): a missing or refused credential is not retried into the void; its input is
kept and one ``ops.alert`` goes to the policy's operations channel per fault per
``operations.alert_every_minutes``, however often the fault recurs."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.events import EventEnvelope
from shared.exceptions import ConfigurationError
from shared.models import Action, utc_text
from shared.policy import Policy
from shared.processing import Decision, Handler, ReadView

OPS_FAULT = "ops.fault"
OPS_ALERT = "ops.alert"


def _window(now: datetime, minutes: int) -> datetime:
    start = now.astimezone(UTC).replace(second=0, microsecond=0)
    since_midnight = start.hour * 60 + start.minute
    floored = since_midnight - since_midnight % minutes
    return start.replace(hour=floored // 60, minute=floored % 60)


def fault_event(fault: ConfigurationError, function: str, now: datetime, policy: Policy) -> EventEnvelope:
    """The fault as an event whose id is the fault and its alert window: recurring within
    the window, it is a duplicate."""
    window = _window(now, policy.operations.alert_every_minutes)
    return EventEnvelope(
        source="taops",
        type=OPS_FAULT,
        event_id=f"ops:{fault.code}:{utc_text(window)}",
        entity_key=f"fault:{fault.code}",
        occurred_at=now,
        received_at=now,
        payload={
            "code": fault.code,
            "reason": fault.reason,
            "function": function,
            "window": utc_text(window),
        },
    )


def ops_alert(policy: Policy) -> Handler:
    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        fault = event.payload
        ops = policy.operations
        text = (
            f"taops needs an operator: {fault['reason']} "
            f"(seen by {fault['function']}; code {fault['code']}). "
            "What it could not do is kept in dead_letters; once this is fixed, new events go through "
            "and `taops outbox --failed` lists actions to retry."
        )
        action = Action(
            kind=OPS_ALERT,
            at=now,
            recipients=list(ops.emails),
            reason=f"configuration fault {fault['code']}: {fault['reason']}",
            idempotency_key=f"ops:{fault['code']}:{fault['window']}",
            channel=ops.slack_channel,
            to=list(ops.emails),
            subject=f"taops: {fault['code']}",
            text=text,
            code=fault["code"],
        )
        where = ops.slack_channel or ", ".join(ops.emails) or "nowhere (operations has no channel or emails)"
        return Decision(actions=[action], notes=[f"operators alerted ({where}): {fault['reason']}"])

    return handle


def source_alert(policy: Policy, source: str, since: str, text: str, now: datetime, *, back: bool) -> Action:
    """The operators' alert that ``source`` went quiet at ``since`` (``quiet:{source}:{since}``),
    or that it is heard again after that silence (``back:{source}:{since}``): one each per
    silence, whatever the schedule."""
    ops = policy.operations
    state = "back" if back else "quiet"
    return Action(
        kind=OPS_ALERT,
        at=now,
        recipients=list(ops.emails),
        reason=f"source {source} {'is heard again' if back else 'went quiet'} (silence since {since})",
        idempotency_key=f"{state}:{source}:{since}",
        channel=ops.slack_channel,
        to=list(ops.emails),
        subject=f"taops: {source} {'is back' if back else 'is quiet'}",
        text=text,
        code=f"source_{state}",
    )
