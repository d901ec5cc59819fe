"""The scheduler's jobs: what a ``cadence-tick`` for each job name does.

Cloud Scheduler publishes ``{"job": NAME}`` on the schedule the policy's ``cadences``
give it; infra schedules exactly the enabled ones and ``tests/functional/test_infra.py``
checks that each has a job here. A tick is an event like any other: its id is the job
and the scheduled time it stands for (the latest time the job's schedule fires at or
before the tick was published), so Cloud Scheduler firing twice, or Pub/Sub delivering
twice, runs the job once (``shared.dispatch.run_tick``).

| job | what it does |
| --- | --- |
| ``sla-check`` | fires the due timers of the pooled mailbox's SLA (reminders, escalations) |
| ``health-check`` | fires the health debounce timers: a category that held gets its reaction |
| ``health-traits``, … | the cadences (``shared.cadences``): what each person or account is owed now |
| ``renewal-process`` | fires the timers of renewal processes whose first day (120 days out) came |
| ``outbox-relay`` | publishes actions left unpublished, and deferred ones that fell due |
| ``gmail-watch`` | renews the Gmail push on the pooled mailbox (it expires after 7 days) |
| ``vitally-sync`` | keeps the fields Vitally owns current on the book (``sources.vitally_sync``) |

Timers are due-indexed: a sweep reads the timers of its job whose ``due_at`` has passed
(the composite index ``timers(job, due_at)`` in ``infra/``), never every thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.bootstrap import Context
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import TIMERS, Outcome, ProcessResult
from shared.rules.cron import previous_fire
from shared.store import Document, Store, Transaction, Where


@dataclass
class JobRun:
    summary: dict[str, Any]
    results: list[ProcessResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Job = Callable[[Context, datetime], JobRun]


class TimerSweep:
    """A sweep that fires every timer of ``job`` due by now, each through the dispatcher
    (its own event and transaction: one bad timer is kept aside, the rest go on).

    ``due`` and ``fire`` are its two halves, so that the tick can look before it claims:
    a tick that finds nothing due records itself in one transaction (most ticks of a
    quiet hour find nothing)."""

    def __init__(self, job: str) -> None:
        self.job = job

    def due(self, reader: Store | Transaction, now: datetime) -> list[tuple[str, Document]]:
        """The due timers, in the order they fire (due time, then id): read from the store,
        or in the tick's claiming transaction."""
        due = reader.query(TIMERS, Where("job", "==", self.job), Where("due_at", "<=", utc_text(now)))
        return sorted(due, key=lambda item: (str(item[1].get("due_at")), item[0]))

    def fire(self, ctx: Context, now: datetime, due: list[tuple[str, Document]]) -> JobRun:
        from shared.dispatch import dispatch
        from shared.handlers import timer_event

        results = []
        parked = 0
        for timer_id, doc in due:
            result = dispatch(ctx, timer_event(doc, now), now)
            results.append(result)
            # Bad input is parked; a configuration fault leaves the timer due for when it is fixed.
            if result.outcome is Outcome.REJECTED and result.fault == "bad_input":
                parked += park(ctx, timer_id, doc, result.reason, now)
        fired = sum(r.outcome is Outcome.APPLIED for r in results)
        return JobRun({"due": len(due), "fired": fired, **({"parked": parked} if parked else {})}, results)

    def __call__(self, ctx: Context, now: datetime) -> JobRun:
        return self.fire(ctx, now, self.due(ctx.store, now))


def fire_timers(job: str) -> TimerSweep:
    """The sweep of ``job``'s timers (see ``TimerSweep``)."""
    return TimerSweep(job)


def park(ctx: Context, timer_id: str, doc: dict[str, Any], reason: str, now: datetime) -> int:
    """A timer whose firing is bad input leaves the sweep (its job becomes
    ``<job>:failed``), kept with the reason for inspection; left due, every tick would
    fire it and fail again."""

    def body(tx: Transaction) -> int:
        current = tx.get(TIMERS, timer_id)
        if current is None or current.get("due_at") != doc.get("due_at"):
            return 0
        tx.set(
            TIMERS,
            timer_id,
            {**current, "job": f"{current['job']}:failed", "failed_at": utc_text(now), "failure": reason},
        )
        return 1

    return ctx.store.run_transaction(body)


def relay_outbox(ctx: Context, now: datetime) -> JobRun:
    from shared import outbox

    if ctx.publisher is None:
        return JobRun({"published": 0, "skipped": "publishing is off"})
    return JobRun(outbox.relay(ctx.store, now, ctx.publisher))


def renew_gmail_watch(ctx: Context, now: datetime) -> JobRun:
    from shared import pubsub
    from shared.quiet import record_gmail_watch

    mailbox = ctx.policy.group_mail.address
    try:
        answer = ctx.mailbox(mailbox).watch(mailbox, pubsub.topic_path("gmail-push"))
    except Exception as exc:
        # Counted as the Gmail source broken (source-watch), then settled as any fault.
        record_gmail_watch(ctx.store, now, failure=f"{type(exc).__name__}: {exc}")
        raise
    expiration = answer.get("expiration")
    try:  # Gmail gives milliseconds since the epoch, as a string
        expires = datetime.fromtimestamp(int(expiration) / 1000, UTC) if expiration else None
    except (TypeError, ValueError):
        expires = None
    record_gmail_watch(ctx.store, now, expiration=expires)
    return JobRun(
        {"mailbox": mailbox, "history_id": answer.get("historyId"), "expiration": answer.get("expiration")}
    )


def _cadences() -> dict[str, Job]:
    from shared.cadences import MODULES, run_cadence

    return {job: run_cadence(job) for job in MODULES}


def sync_vitally(ctx: Context, now: datetime) -> JobRun:
    """Vitally's accounts, page by page from the saved cursor, each change dispatched as
    an event (``shared.sources.vitally_sync``)."""
    from shared.dispatch import dispatch
    from shared.sources import vitally_sync

    report = vitally_sync.run(
        ctx.store,
        ctx.policy,
        ctx.vitally_accounts(),
        now,
        apply=lambda event: dispatch(ctx, event, now),
        run_seconds=ctx.policy.vitally.run_seconds,
    )
    return JobRun(report.summary(), report.results, report.notes())


JOBS: dict[str, Job] = {
    **_cadences(),
    "sla-check": fire_timers("sla-check"),
    "health-check": fire_timers("health-check"),
    "renewal-process": fire_timers("renewal-process"),
    "outbox-relay": relay_outbox,
    "gmail-watch": renew_gmail_watch,
    "vitally-sync": sync_vitally,
}


def scheduled_slot(job: str, at: datetime, policy: Policy) -> datetime:
    """The scheduled time a tick published at ``at`` stands for: the latest time the job's
    cron fires at or before ``at`` (a late or repeated publish maps to the same slot); the
    minute of ``at`` for a job the policy does not schedule (a manual run)."""
    cadence = policy.cadence(job)
    if cadence is not None:
        slot = previous_fire(cadence.schedule, cadence.time_zone, at)
        if slot is not None:
            return slot
    return at.astimezone(UTC).replace(second=0, microsecond=0)


def tick_event(job: str, published_at: datetime, received_at: datetime, policy: Policy) -> EventEnvelope:
    """The internal event of one tick of ``job``, published at ``published_at``."""
    slot = scheduled_slot(job, published_at, policy)
    # Built from known-good values here, so not validated again (a tick an hour, a timer
    # each step: the validation showed in replay's profile).
    return EventEnvelope.model_construct(
        source="tick",
        type="cadence.tick",
        event_id=f"{job}@{utc_text(slot)}",
        entity_key=f"job:{job}",
        occurred_at=slot,
        received_at=received_at,
        payload={"job": job, "scheduled_at": utc_text(slot)},
    )


def parse_tick(raw: bytes | str | dict[str, Any]) -> tuple[str, datetime | None]:
    """(job, optional explicit time) from a tick's data ``{"job": NAME[, "at": ISO]}``
    (raw, or already parsed); ``PermanentError`` for anything else or a job nobody knows."""
    try:
        data = raw if isinstance(raw, dict) else json.loads(raw)
        job = data["job"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise PermanentError('not a tick: expected {"job": NAME}') from None
    if not isinstance(job, str) or job not in JOBS:
        raise PermanentError(f"no reaction for job {str(job)[:80]!r} (known: {', '.join(sorted(JOBS))})")
    at = data.get("at") if isinstance(data, dict) else None
    if at is None:
        return job, None
    try:
        moment = datetime.fromisoformat(str(at))
    except ValueError:
        raise PermanentError(f"at: {str(at)[:40]!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise PermanentError("at: needs a time zone (e.g. Z)")
    return job, moment
