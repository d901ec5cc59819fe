"""Cadences: the calendar's reactions (design §6), one Cloud Scheduler job each.

A cadence tick asks its cadence what is due *now* (``due``): one ``Due`` per person or
account and period, named by the reaction's key (``health-traits:{account}:2026-12``).
Each ``Due`` is then its own event (``cadence.due``, id = that key) through the
dispatcher, so it is decided once whatever the schedule: a tick fired twice, late, or
daily instead of monthly finds the period's events already applied. A period is due from
its opening until it is over, so a missed tick is caught up once by the next one, and a
period that ended is never caught up.

``decide`` re-reads what it needs in the event's transaction and returns the Decision
(the actions, each routed and held for working hours, with ``cadence`` and ``period``).
``preview`` runs both without writing anything: ``taops cadences --at`` shows it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from shared.bootstrap import Context
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.policy import Policy
from shared.processing import PROCESSED, Decision, Handler, Outcome, ReadView
from shared.store import Store

CADENCE_DUE = "cadence.due"


@dataclass(frozen=True)
class Due:
    """One reaction a cadence owes: to ``subject`` (a person's email or an account id),
    for ``period``, once (``key``); ``data`` is what ``due`` worked out for ``decide``."""

    job: str
    subject: str
    period: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)


class Cadence(Protocol):
    job: str

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        """What is due at ``now``: one ``Due`` per subject whose period is open."""

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        """The reaction to one ``Due``, from the state read now."""


CADENCES: dict[str, Cadence] = {}
# Each cadence's module, imported when its job first runs (cold starts stay small).
MODULES = {
    "health-traits": "shared.cadences.health_traits",
    "mbr-reminder": "shared.cadences.mbr",
    "qbr-reminder": "shared.cadences.qbr",
    "contact-check": "shared.cadences.contact",
    "weekly-digest": "shared.cadences.digest",
    "seat-check": "shared.cadences.seats",
    "call-offer": "shared.cadences.call_offer",
    "usage-recap": "shared.cadences.recap",
    "source-watch": "shared.cadences.source_watch",
}


def register(cadence: Cadence) -> Cadence:
    CADENCES[cadence.job] = cadence
    return cadence


def cadence(job: str) -> Cadence:
    """The cadence of ``job``; ``PermanentError`` for a job that is not a cadence."""
    if job not in CADENCES and job in MODULES:
        importlib.import_module(MODULES[job])
    if job not in CADENCES:
        raise PermanentError(f"no cadence {job!r} (known: {', '.join(sorted(MODULES))})")
    return CADENCES[job]


def due_event(due: Due, now: datetime) -> EventEnvelope:
    return EventEnvelope(
        source="taops",
        type=CADENCE_DUE,
        event_id=due.key,
        entity_key=f"cadence:{due.key}",
        occurred_at=now,
        received_at=now,
        payload={
            "job": due.job,
            "subject": due.subject,
            "period": due.period,
            "key": due.key,
            "data": due.data,
        },
    )


def cadence_due(policy: Policy) -> Handler:
    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        payload = event.payload
        chosen = cadence(str(payload.get("job")))
        due = Due(
            str(payload["job"]),
            str(payload["subject"]),
            str(payload["period"]),
            str(payload["key"]),
            dict(payload.get("data") or {}),
        )
        return chosen.decide(view, due, policy, now)

    return handle


def run_cadence(job: str) -> Any:
    """The ``shared.jobs`` job of a cadence: each ``Due`` dispatched as its own event."""

    def run(ctx: Context, now: datetime) -> Any:
        from shared.dispatch import dispatch
        from shared.jobs import JobRun

        dues = cadence(job).due(ctx.store, ctx.policy, now)
        results = [dispatch(ctx, due_event(due, now), now) for due in dues]
        applied = sum(r.outcome is Outcome.APPLIED for r in results)
        done = sum(r.outcome is Outcome.DUPLICATE for r in results)
        return JobRun({"due": len(dues), "applied": applied, "already done": done}, results)

    return run


@dataclass
class Preview:
    due: Due
    done: bool  # its event was applied already: nothing would happen again
    decision: Decision | None


def preview(store: Store, policy: Policy, now: datetime, jobs: list[str] | None = None) -> list[Preview]:
    """What each cadence would do at ``now``, decided on the store's state, written nowhere."""
    out: list[Preview] = []
    for job in jobs or list(MODULES):
        for due in cadence(job).due(store, policy, now):
            marker = store.get(PROCESSED, due_event(due, now).marker_id)
            if marker is not None:
                out.append(Preview(due, True, None))
                continue

            def decide(tx: Any, due: Due = due) -> Decision:
                return cadence(due.job).decide(ReadView(tx), due, policy, now)

            out.append(Preview(due, False, store.run_transaction(decide)))
    return out
