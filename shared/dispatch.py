"""The one dispatcher: every internal event, from any entry point (the Pub/Sub consumers,
``taops replay``, the demo, ``taops dev``), goes through ``dispatch``.

``EVENT_HANDLERS`` maps an internal event type to its handler (after Cosmic Python's
``EVENT_HANDLERS``). ``dispatch`` runs the handler inside ``shared.processing.process``
(exactly once, in one transaction), publishes the actions that commit created, and logs
one structured line saying what was decided and why. A failure is settled by
``shared.faults``: transient faults are raised for the platform to retry; everything else
is kept in ``dead_letters`` and acknowledged.

A scheduler tick (``cadence.tick``, id = job + scheduled time) runs its job from
``shared.jobs.JOBS`` under a small state machine on its marker, after Powertools'
idempotency: ``in_progress`` with a lease while the job runs, ``applied`` once it is done.
A tick delivered twice runs its job once; a run that crashed is released (or its lease
expires) and the redelivery runs it again, each piece of it idempotent on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.alerts import OPS_FAULT, fault_event, ops_alert
from shared.bootstrap import Context
from shared.cadences import CADENCE_DUE, cadence_due
from shared.events import EventEnvelope
from shared.exceptions import ConfigurationError, PermanentError, TransientError
from shared.faults import settle
from shared.handlers import (
    LIGHTHOUSE_EXIT,
    TIMER_FIRED,
    group_message,
    health_changed,
    lighthouse_exit,
    pto_logged,
    pto_names,
    renewal_changed,
    timer_fired,
)
from shared.handlers.outbox_cancel import OUTBOX_CANCEL, outbox_cancel
from shared.handlers.outbox_retry import OUTBOX_RETRY, outbox_retry
from shared.handlers.vitally_sync import account_traits
from shared.logs import bind, enabled, log
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import (
    PROCESSED,
    Decision,
    Handler,
    Outcome,
    ProcessResult,
    dead_letter,
    marker_document,
    process,
)
from shared.quiet import heard
from shared.sources.deel import PTO_EVENT_TYPE
from shared.sources.gmail import GROUP_MESSAGE_TYPE
from shared.sources.salesforce import RENEWAL_EVENT_TYPE
from shared.sources.vitally import HEALTH_EVENT_TYPE
from shared.sources.vitally_sync import TRAITS_EVENT_TYPE
from shared.store import Document, Transaction

if TYPE_CHECKING:
    from shared.jobs import TimerSweep

TICK_TYPE = "cadence.tick"
_UNBOUND = nullcontext()
# What a timer sweep that found nothing due did.
NOTHING_DUE = {"due": 0, "fired": 0}
# How long a running tick holds its marker; a crashed run is taken over after it.
TICK_LEASE = timedelta(minutes=10)

EVENT_HANDLERS: dict[str, Callable[[Policy], Handler]] = {
    PTO_EVENT_TYPE: pto_logged,
    RENEWAL_EVENT_TYPE: renewal_changed,
    HEALTH_EVENT_TYPE: health_changed,
    GROUP_MESSAGE_TYPE: group_message,
    TIMER_FIRED: timer_fired,
    OPS_FAULT: ops_alert,
    LIGHTHOUSE_EXIT: lighthouse_exit,
    CADENCE_DUE: cadence_due,
    TRAITS_EVENT_TYPE: account_traits,
    OUTBOX_CANCEL: outbox_cancel,
    OUTBOX_RETRY: outbox_retry,
}


# What an event names that its handler reads first, by (collection, id): read with the
# event's marker, in one round trip on Firestore.
EVENT_READS: dict[str, Callable[[EventEnvelope], list[tuple[str, str]]]] = {
    PTO_EVENT_TYPE: pto_names,
}


def _summary(result: ProcessResult) -> dict[str, Any]:
    actions = [
        {
            "id": a.id,
            "kind": a.kind,
            "recipients": a.recipients,
            **({"not_before": utc_text(a.not_before)} if a.not_before else {}),
        }
        for a in result.new_actions
    ]
    notes = result.decision.notes if result.decision is not None else []
    return {
        "outcome": result.outcome.value,
        "reason": result.reason or None,
        "notes": notes,
        "actions": actions,
        **({"children": len(result.children)} if result.children else {}),
    }


def dispatch(
    ctx: Context,
    event: EventEnvelope,
    now: datetime,
    *,
    attributes: dict[str, str] | None = None,
) -> ProcessResult:
    """Apply ``event`` once through its handler; see the module docstring. Raises only
    for transient faults."""
    # Muted (replay, the demo), no line is written, so there is nothing to bind them to.
    logging = enabled()
    with bind(function=ctx.function, event_id=event.event_id, event_type=event.type) if logging else _UNBOUND:
        started = time.perf_counter()
        try:
            if event.type == TICK_TYPE:
                result = run_tick(ctx, event, now)
            else:
                factory = EVENT_HANDLERS.get(event.type)
                if factory is None:
                    raise PermanentError(f"no handler for event type {event.type!r}")
                names = EVENT_READS.get(event.type)
                result = process(
                    ctx.store,
                    event,
                    factory(ctx.policy),
                    now,
                    retention_days=ctx.policy.events.marker_retention_days,
                    reads=names(event) if names is not None else (),
                )
        except Exception as exc:
            fault, reason, _ = settle(
                ctx.store,
                exc,
                source=event.source,
                function=ctx.function,
                raw=event.to_json(),
                now=now,
                event_id=event.event_id,
                attributes=attributes,
                alert=lambda fault: alert(ctx, fault, now),
            )
            return ProcessResult(Outcome.REJECTED, event.event_id, reason=reason, fault=fault.value)
        if result.outcome is Outcome.CONFLICT:
            kept = dead_letter(
                ctx.store,
                source=event.source,
                function=ctx.function,
                reason=f"idempotency conflict: {result.reason}",
                raw=event.to_json(),
                now=now,
                event_id=event.event_id,
                attributes=attributes,
            )
            log("ERROR", f"event id reused with a different payload: {result.reason}", dead_letter=kept)
        if logging:
            # How long deciding and committing took (the transaction, its retries included).
            took = round((time.perf_counter() - started) * 1000, 1)
            log("INFO", f"event {result.outcome.value}", **_summary(result), processing_ms=took)
        ctx.publish(result.new_actions, now)
        _heard(ctx, event, now)
        return result


def _heard(ctx: Context, event: EventEnvelope, now: datetime) -> None:
    """Sources that go quiet (``shared.quiet``): a watched source's event says it is
    alive, recorded at most every few minutes; a failure here never fails the event."""
    try:
        heard(ctx.store, event, now)
    except Exception as exc:
        log("WARNING", f"could not record that {event.source} was heard: {exc}")


def alert(ctx: Context, fault: ConfigurationError, now: datetime) -> None:
    """One ``ops.alert`` per fault per window (a duplicate inside the window does nothing)."""
    try:
        dispatch(ctx, fault_event(fault, ctx.function, now, ctx.policy), now)
    except TransientError as exc:  # the fault itself is kept; the alert comes with the next one
        log("ERROR", f"could not raise the operators' alert: {exc}", fault=fault.code)


# -- ticks ---------------------------------------------------------------------------------


@dataclass
class _Claim:
    """What taking a tick's marker found: why not to run (``refused``), or the timers a
    sweep found due (``due``; empty when the tick was recorded as done at once)."""

    refused: ProcessResult | None = None
    due: list[tuple[str, Document]] | None = None


def _claim_tick(ctx: Context, event: EventEnvelope, now: datetime, sweep: TimerSweep | None = None) -> _Claim:
    """Take the tick's marker. A timer sweep also looks for due timers in the same
    transaction: when there are none the tick is done, and its marker is written as
    applied at once (the same marker a claim and a finish would leave, in one commit)."""
    retention = ctx.policy.events.marker_retention_days

    marker_id = event.marker_id

    def body(tx: Transaction) -> _Claim:
        marker = tx.get(PROCESSED, marker_id)
        if marker is not None:
            if marker.get("outcome") == "in_progress" and str(marker.get("lease_until")) <= utc_text(now):
                pass  # a run that crashed without releasing: take it over
            elif marker.get("outcome") == "in_progress":
                raise TransientError(f"tick {event.event_id} is running elsewhere")
            else:
                ran = ProcessResult(Outcome.DUPLICATE, event.event_id, reason="this tick already ran")
                return _Claim(ran)
        due = sweep.due(tx, now) if sweep is not None else None
        if due == []:  # the finished marker at once (lease_until in its place, but None)
            claimed = marker_document(event, "in_progress", now, retention, lease_until=None)
            tx.set(PROCESSED, marker_id, _applied(claimed, now, dict(NOTHING_DUE)))
        else:
            lease = utc_text(now + TICK_LEASE)
            claimed = marker_document(event, "in_progress", now, retention, lease_until=lease)
            tx.set(PROCESSED, marker_id, claimed)
        return _Claim(due=due)

    return ctx.store.run_transaction(body)


def _applied(marker: Document, now: datetime, summary: Document) -> Document:
    return {
        **marker,
        "outcome": Outcome.APPLIED.value,
        "lease_until": None,
        "completed_at": utc_text(now),
        "summary": summary,
    }


def _finish_tick(ctx: Context, event: EventEnvelope, now: datetime, summary: Document | None) -> None:
    def body(tx: Transaction) -> None:
        marker = tx.get(PROCESSED, event.marker_id) or {}
        if summary is None:  # released: a redelivery runs the job again
            tx.delete(PROCESSED, event.marker_id)
        else:
            tx.set(PROCESSED, event.marker_id, _applied(marker, now, summary))

    ctx.store.run_transaction(body)


def run_tick(ctx: Context, event: EventEnvelope, now: datetime) -> ProcessResult:
    from shared.jobs import JOBS, JobRun, TimerSweep

    job = str(event.payload.get("job"))
    if job not in JOBS:
        raise PermanentError(f"no reaction for job {job!r} (known: {', '.join(sorted(JOBS))})")
    work = JOBS[job]
    sweep = work if isinstance(work, TimerSweep) else None
    claim = _claim_tick(ctx, event, now, sweep)
    if claim.refused is not None:
        return claim.refused
    if claim.due == []:  # nothing was due: the claim recorded the tick as done
        run = JobRun(dict(NOTHING_DUE))
    else:
        try:
            run = sweep.fire(ctx, now, claim.due) if sweep is not None and claim.due else work(ctx, now)
        except BaseException:
            _finish_tick(ctx, event, now, None)
            raise
        _finish_tick(ctx, event, now, json.loads(json.dumps(run.summary, default=str)))
    notes = [f"{job}: " + ", ".join(f"{k} {v}" for k, v in run.summary.items()), *run.notes]
    return ProcessResult(
        Outcome.APPLIED, event.event_id, decision=Decision(notes=notes), children=run.results
    )
