"""Durable timers and scheduler ticks: a sweep reads what is due, not what exists; a tick
runs its job once however often it is delivered; a crashed run is released."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from functions_framework import create_app

from shared import clients, jobs
from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.dispatch import dispatch
from shared.exceptions import TransientError
from shared.jobs import JobRun, tick_event
from shared.models import utc_text
from shared.processing import OUTBOX, PROCESSED, TIMERS, Outcome
from shared.sources.gmail import normalize_message
from shared.store import EmbeddedStore, Where
from tests.gmail_messages import GROUP, gmail_message
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
WROTE = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)
REMINDER_DUE = datetime(2026, 12, 16, 22, 0, tzinfo=UTC)  # 36 working hours later, in Berlin


def waiting_threads(store: EmbeddedStore, policy, book_data, total: int) -> Context:
    """``total`` waiting threads: ten written by customers at WROTE through the real
    handler, the rest copies of their documents with timers due next year."""
    import_book(store, parse_book(book_data), policy)
    ctx = Context(store=store, policy=policy)
    for n in range(10):
        message = gmail_message(f"m{n}", f"t{n}", "jo@acme.test", f"Question {n}", WROTE)
        dispatch(ctx, normalize_message(message, GROUP, WROTE, policy.group_mail.company_domains), WROTE)
    [(thread_id, thread)] = store.query("mail_threads", limit=1)
    timer = store.get(TIMERS, thread["sla_timer"])
    later = utc_text(WROTE + timedelta(days=365))
    writes = []
    for n in range(10, total):
        key = f"sla:x{n}:{later}:0"
        copy_id = f"tmr_copy{n:06d}"
        writes.append((TIMERS, copy_id, {**timer, "id": copy_id, "key": key, "due_at": later}))
        copy = {**thread, "thread_id": f"x{n}", "sla_timer": copy_id}
        writes.append(("mail_threads", f"{thread_id}-{n}", copy))
    store.put_many(writes, chunk=5000)
    return ctx


def sweep_cost(ctx: Context, now: datetime) -> tuple[int, int, int]:
    """(reads of the due query, reads of the whole tick, actions created)."""
    store = ctx.store
    assert isinstance(store, EmbeddedStore)
    before = store.reads
    due = store.query(TIMERS, Where("job", "==", "sla-check"), Where("due_at", "<=", utc_text(now)))
    query_reads = store.reads - before
    assert len(due) == 10
    before = store.reads
    result = dispatch(ctx, tick_event("sla-check", now, now, ctx.policy), now)
    assert result.outcome is Outcome.APPLIED
    actions = sum(len(child.new_actions) for child in result.children)
    return query_reads, store.reads - before, actions


def test_a_sweep_over_100000_waiting_threads_with_10_due_reads_about_10_documents(policy, book_data) -> None:
    small = sweep_cost(waiting_threads(EmbeddedStore(), policy, book_data, 1_000), REMINDER_DUE)
    large = sweep_cost(waiting_threads(EmbeddedStore(), policy, book_data, 100_000), REMINDER_DUE)
    assert large[0] == small[0] == 10  # the due query returns the ten due timers, nothing else
    assert large[1] == small[1]  # the whole tick costs the same at 1,000 and at 100,000
    assert large[2] == small[2] == 10  # ten reminders
    assert large[1] < 10 * 20  # each firing reads its timer, thread, account and the people it routes


def test_a_tick_delivered_twice_runs_its_job_once(policy, book_data) -> None:
    ctx = waiting_threads(EmbeddedStore(), policy, book_data, 10)
    first = dispatch(ctx, tick_event("sla-check", REMINDER_DUE, REMINDER_DUE, policy), REMINDER_DUE)
    again = dispatch(ctx, tick_event("sla-check", REMINDER_DUE, REMINDER_DUE, policy), REMINDER_DUE)
    assert (first.outcome, again.outcome) == (Outcome.APPLIED, Outcome.DUPLICATE)
    assert len(ctx.store.query(OUTBOX)) == 10
    marker = ctx.store.get(PROCESSED, f"tick:sla-check@{utc_text(REMINDER_DUE)}")
    assert marker["outcome"] == "applied" and marker["summary"] == {"due": 10, "fired": 10}


def test_a_sweep_that_finds_nothing_due_is_recorded_in_one_commit(policy, monkeypatch) -> None:
    event = tick_event("sla-check", REMINDER_DUE, REMINDER_DUE, policy)
    quiet = Context(store=EmbeddedStore(), policy=policy)
    result = dispatch(quiet, event, REMINDER_DUE)
    assert result.outcome is Outcome.APPLIED and result.decision.notes == ["sla-check: due 0, fired 0"]
    assert quiet.store.writes == 1  # the claim and the finish are one commit
    assert dispatch(quiet, event, REMINDER_DUE).outcome is Outcome.DUPLICATE
    # The marker is the one a claim, a job that did nothing and a finish leave.
    monkeypatch.setitem(jobs.JOBS, "sla-check", lambda context, now: JobRun({"due": 0, "fired": 0}))
    claimed = Context(store=EmbeddedStore(), policy=policy)
    dispatch(claimed, event, REMINDER_DUE)
    assert claimed.store.writes == 2
    assert quiet.store.get(PROCESSED, event.marker_id) == claimed.store.get(PROCESSED, event.marker_id)


def test_a_tick_stands_for_the_slot_its_schedule_fired_at(policy) -> None:
    late = tick_event("sla-check", datetime(2026, 12, 16, 22, 14, 59, tzinfo=UTC), WROTE, policy)
    assert late.event_id == "sla-check@2026-12-16T22:00:00Z"  # the */15 slot it belongs to
    relay = tick_event("outbox-relay", datetime(2026, 12, 16, 22, 14, 59, tzinfo=UTC), WROTE, policy)
    assert relay.event_id == "outbox-relay@2026-12-16T22:10:00Z"


def test_a_crashed_run_is_released_so_the_redelivery_runs_the_job(policy, monkeypatch) -> None:
    ctx = Context(store=EmbeddedStore(), policy=policy)
    calls: list[datetime] = []

    def flaky(context: Context, now: datetime) -> JobRun:
        calls.append(now)
        if len(calls) == 1:
            raise TransientError("Firestore unavailable")
        return JobRun({"ok": True})

    monkeypatch.setitem(jobs.JOBS, "sla-check", flaky)
    event = tick_event("sla-check", REMINDER_DUE, REMINDER_DUE, policy)
    with pytest.raises(TransientError):
        dispatch(ctx, event, REMINDER_DUE)
    assert ctx.store.get(PROCESSED, event.marker_id) is None  # released
    assert dispatch(ctx, event, REMINDER_DUE).outcome is Outcome.APPLIED
    assert len(calls) == 2


def test_a_run_in_progress_elsewhere_is_retried_later_and_a_stale_one_taken_over(policy, monkeypatch) -> None:
    ctx = Context(store=EmbeddedStore(), policy=policy)
    monkeypatch.setitem(jobs.JOBS, "sla-check", lambda context, now: JobRun({"ok": True}))
    event = tick_event("sla-check", REMINDER_DUE, REMINDER_DUE, policy)
    lease = utc_text(REMINDER_DUE + timedelta(minutes=5))
    ctx.store.put(PROCESSED, event.marker_id, {"outcome": "in_progress", "lease_until": lease})
    with pytest.raises(TransientError):
        dispatch(ctx, event, REMINDER_DUE)  # another instance holds it: Pub/Sub retries
    later = REMINDER_DUE + timedelta(minutes=11)
    assert dispatch(ctx, event, later).outcome is Outcome.APPLIED  # the lease ran out
    assert ctx.store.get(PROCESSED, event.marker_id)["outcome"] == "applied"


def test_on_cadence_tick_fires_due_timers_through_the_real_framework(monkeypatch, policy, book_data) -> None:
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_PUBLISH_ACTIONS", "0")
    clients.reset()
    waiting_threads(clients.store(), policy, book_data, 10)
    monkeypatch.setenv("TAOPS_CLOCK", REMINDER_DUE.isoformat())
    app = create_app("on_cadence_tick", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(json.dumps({"job": "sla-check"}).encode(), "cadence-tick")
    assert app.post("/", headers=headers, data=body).status_code == 200
    assert app.post("/", headers=headers, data=body).status_code == 200  # redelivered
    reminders = [d for _, d in clients.store().query(OUTBOX) if d.get("sla_level") == 0]
    still_due = clients.store().query(
        TIMERS, Where("job", "==", "sla-check"), Where("due_at", "<=", "2026-12-17")
    )
    assert len(reminders) == 10 and still_due == []
    clients.reset()


def test_a_timer_whose_firing_is_bad_input_is_kept_aside_not_fired_every_tick(policy) -> None:
    ctx = Context(store=EmbeddedStore(), policy=policy)
    bad = {
        "id": "tmr_bad",
        "key": "mystery:1",
        "kind": "no-such-kind",
        "job": "sla-check",
        "due_at": utc_text(WROTE),
        "subject": "mail_threads/x",
        "data": {},
    }
    ctx.store.put(TIMERS, "tmr_bad", bad)
    first = dispatch(ctx, tick_event("sla-check", REMINDER_DUE, REMINDER_DUE, policy), REMINDER_DUE)
    assert [child.outcome for child in first.children] == [Outcome.REJECTED]
    kept = ctx.store.get(TIMERS, "tmr_bad")
    assert kept["job"] == "sla-check:failed" and "no handler for kind 'no-such-kind'" in kept["failure"]
    later = REMINDER_DUE + timedelta(minutes=15)
    assert dispatch(ctx, tick_event("sla-check", later, later, policy), later).children == []
    [(_, letter)] = ctx.store.query("dead_letters")
    assert letter["event_id"] == f"tmr_bad@{utc_text(WROTE)}"


def test_an_infrastructure_fault_leaves_the_timer_due_for_when_it_is_fixed(
    policy, book_data, monkeypatch
) -> None:
    from google.api_core.exceptions import FailedPrecondition

    from shared.handlers import timers as timer_handlers

    ctx = waiting_threads(EmbeddedStore(), policy, book_data, 10)
    real = timer_handlers.TIMER_HANDLERS["sla"]

    def index_building(view, timer, now, policy):
        raise FailedPrecondition("The query requires an index. That index is currently building.")

    monkeypatch.setitem(timer_handlers.TIMER_HANDLERS, "sla", index_building)
    first = dispatch(ctx, tick_event("sla-check", REMINDER_DUE, REMINDER_DUE, policy), REMINDER_DUE)
    assert {c.fault for c in first.children} == {"configuration"}
    due = ctx.store.query(
        TIMERS, Where("job", "==", "sla-check"), Where("due_at", "<=", utc_text(REMINDER_DUE))
    )
    assert len(due) == 10  # still due, not parked
    alerts = [d for _, d in ctx.store.query(OUTBOX) if d["kind"] == "ops.alert"]
    assert [a["code"] for a in alerts] == ["google-failedprecondition"]  # once, not ten times
    monkeypatch.setitem(timer_handlers.TIMER_HANDLERS, "sla", real)
    later = REMINDER_DUE + timedelta(minutes=15)
    fixed = dispatch(ctx, tick_event("sla-check", later, later, policy), later)
    assert sum(len(c.new_actions) for c in fixed.children) == 10
