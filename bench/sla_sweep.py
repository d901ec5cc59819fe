"""The SLA sweep against the number of waiting threads, on the embedded store.

Each waiting thread has one scheduled timer in ``timers``, as the mail handler leaves it.
The threads that fall due are made by real group-mail messages from a Globex champion sent
through the dispatcher; one more real thread, due later, is the pattern the rest are
bulk-written from (the same documents, each a few seconds later, ids and keys its own), so
every shape is the real one. Then ``sla-check`` ticks run at consecutive quarter hours,
with exactly 10 timers due at each.

Printed per size: the document reads of the sweep's query alone, the reads and writes of
the whole tick (its claim, the query, each due timer fired through the dispatcher with
its publish, its finish) and the tick's wall time, the median of the ticks. A sweep reads
what is due, never every thread: the reads must not move with the number of threads.
"""

from __future__ import annotations

import copy
import json
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scenario import EVENTS, bench_context
from shared.bootstrap import Context
from shared.dispatch import dispatch
from shared.events import doc_key
from shared.handlers import MAIL_THREADS
from shared.jobs import tick_event
from shared.logs import muted
from shared.models import MailThread, timer_id, utc_text
from shared.policy import Policy, load_policy
from shared.processing import TIMERS, Outcome
from shared.rules import sla
from shared.sources.gmail import normalize_message
from shared.store import Document, EmbeddedStore, Where

MESSAGE = json.loads((EVENTS / "gmail_message_get_metadata_response.json").read_text())
SIZES = tuple(int(a) for a in sys.argv[1:]) or (1_000, 10_000, 100_000)
DUE = 10  # timers due at each tick
TICKS = 5  # consecutive quarter-hour ticks, each with its own DUE timers
JOB = sla.SLA_JOB
# A week with no US holiday. The Globex champion's messages wait on the working-days clock
# of Globex's TA (America/Los_Angeles): one sent at 09:03 UTC on Monday has its reminder
# due at 21:03 UTC on Tuesday.
FIRST_MESSAGE = datetime(2026, 3, 2, 9, 3, tzinfo=UTC)
FIRST_TICK = datetime(2026, 3, 3, 21, 15, tzinfo=UTC)
PATTERN_MESSAGE = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)  # due on Wednesday, after every tick


def _message(thread_id: str, at: datetime) -> dict[str, Any]:
    message: dict[str, Any] = copy.deepcopy(MESSAGE)
    message.update(id=f"msg-{thread_id}", threadId=thread_id, internalDate=str(int(at.timestamp() * 1000)))
    for header in message["payload"]["headers"]:
        if header["name"] == "From":
            header["value"] = "Pat Champion <champion@globex.test>"
    return message


def _send(ctx: Context, thread_id: str, at: datetime) -> None:
    group = ctx.policy.group_mail
    event = normalize_message(_message(thread_id, at), group.address, at, group.company_domains)
    result = dispatch(ctx, event, at)
    assert result.outcome is Outcome.APPLIED, result.reason


def _later(text: str, by: timedelta) -> str:
    return utc_text(datetime.fromisoformat(text) + by)


def _copies(thread: Document, timer: Document, count: int) -> Iterator[tuple[str, str, Document]]:
    """``count`` more waiting threads shaped as ``thread`` and its ``timer``, the n-th
    written n seconds later: the working-days clock moves them along as it would."""
    times = ("waiting_since", "deadline_at", "next_sla_at", "last_customer_message_at", "last_message_at")
    for n in range(1, count + 1):
        by = timedelta(seconds=n)
        thread_id = f"bulk-{n}"
        doc_id = doc_key(thread["mailbox"], thread_id)
        t = copy.deepcopy(thread)
        t.update({field: _later(t[field], by) for field in times})
        t.update(thread_id=thread_id, customer_messages_at=[t["waiting_since"]])
        key = sla.key(thread_id, datetime.fromisoformat(t["waiting_since"]), timer["data"]["level"])
        t["sla_timer"] = timer_id(key)
        s = copy.deepcopy(timer)
        s.update(
            id=t["sla_timer"],
            key=key,
            due_at=t["next_sla_at"],
            subject=f"{MAIL_THREADS}/{doc_id}",
            scheduled_at=_later(s["scheduled_at"], by),
            event_id=f"{thread['mailbox']}:msg-{thread_id}",
        )
        s["data"]["waiting_since"] = t["waiting_since"]
        yield MAIL_THREADS, doc_id, t
        yield TIMERS, s["id"], s


def _check_shape(store: EmbeddedStore, policy: Policy, thread_id: str) -> None:
    """The last bulk thread's timer is the one the rules would have scheduled."""
    group = policy.group_mail
    stored = store.get(MAIL_THREADS, doc_key(group.address, thread_id))
    assert stored is not None
    fresh = MailThread.model_validate(stored).model_copy(update={"deadline_at": None, "sla_timer": None})
    _, timer = sla.start_wait(fresh, str(stored["clock_timezone"]), group, policy.calendar, FIRST_TICK)
    written = store.get(TIMERS, str(stored["sla_timer"]))
    assert timer is not None and written is not None, "bulk threads drifted from the rules"
    assert (timer.id, utc_text(timer.due_at)) == (written["id"], written["due_at"]), "bulk timers drifted"


def build(size: int, policy: Policy) -> tuple[Context, EmbeddedStore]:
    """``size`` waiting threads, ``DUE`` of them due at each of the ``TICKS`` ticks."""
    ctx = bench_context(policy)
    store = ctx.store
    assert isinstance(store, EmbeddedStore)
    with muted():
        for tick in range(TICKS):
            for n in range(DUE):
                _send(ctx, f"due-{tick}-{n}", FIRST_MESSAGE + timedelta(minutes=15 * tick + n))
        _send(ctx, "pattern", PATTERN_MESSAGE)
    group = policy.group_mail
    thread = store.get(MAIL_THREADS, doc_key(group.address, "pattern"))
    assert thread is not None
    timer = store.get(TIMERS, str(thread["sla_timer"]))
    assert timer is not None
    bulk = size - TICKS * DUE - 1
    store.put_many(_copies(thread, timer, bulk))
    _check_shape(store, policy, f"bulk-{bulk}")
    return ctx, store


def measure(size: int, policy: Policy) -> dict[str, Any]:
    ctx, store = build(size, policy)
    waiting = len(store.query(MAIL_THREADS, Where("waiting", "==", True)))
    timers = len(store.query(TIMERS, Where("job", "==", JOB)))
    assert waiting == timers == size, (waiting, timers)
    query_reads, tick_reads, tick_writes, seconds = [], [], [], []
    with muted():
        # The tick a quarter hour before: nothing is due yet (and the embedded store builds
        # its indexes, as Firestore's already exist).
        before = FIRST_TICK - timedelta(minutes=15)
        dispatch(ctx, tick_event(JOB, before, before, policy), before)
        for tick in range(TICKS):
            now = FIRST_TICK + timedelta(minutes=15 * tick)
            reads = store.reads
            due = store.query(TIMERS, Where("job", "==", JOB), Where("due_at", "<=", utc_text(now)))
            query_reads.append(store.reads - reads)
            assert len(due) == DUE, f"{len(due)} timers due at {utc_text(now)}"
            reads, writes = store.reads, store.writes
            started = time.perf_counter()
            result = dispatch(ctx, tick_event(JOB, now, now, policy), now)
            seconds.append(time.perf_counter() - started)
            tick_reads.append(store.reads - reads)
            tick_writes.append(store.writes - writes)
            fired = [c for c in result.children if c.outcome is Outcome.APPLIED and c.new_actions]
            assert len(fired) == DUE, result.decision.notes if result.decision else result.reason
    return {
        "query_reads": statistics.median(query_reads),
        "tick_reads": statistics.median(tick_reads),
        "tick_writes": statistics.median(tick_writes),
        "tick_ms": statistics.median(seconds) * 1000,
    }


def main() -> int:
    if min(SIZES) <= TICKS * DUE + 1:
        raise SystemExit(f"each size must be over {TICKS * DUE + 1}: the threads that fall due, the pattern")
    policy = load_policy()
    print(
        f"sla-check sweep, {DUE} timers due at each of {TICKS} quarter-hour ticks "
        f"(median per tick; embedded store)"
    )
    print(
        f"{'waiting threads':>16}{'query reads':>13}{'tick reads':>12}{'tick writes':>13}{'tick ms':>10}"
        "   reads as threads grow"
    )
    first: dict[str, Any] | None = None
    for size in SIZES:
        row = measure(size, policy)
        if first is None:
            first, verdict = row, f"(the baseline: {size:,} threads)"
        elif (row["query_reads"], row["tick_reads"]) == (first["query_reads"], first["tick_reads"]):
            verdict = "flat: the same reads as the baseline"
        else:
            verdict = (
                f"NOT flat: query {row['query_reads'] - first['query_reads']:+g}, "
                f"tick {row['tick_reads'] - first['tick_reads']:+g} reads against the baseline"
            )
        print(
            f"{size:>16,}{row['query_reads']:>13g}{row['tick_reads']:>12g}{row['tick_writes']:>13g}"
            f"{row['tick_ms']:>10.1f}   {verdict}"
        )
    print(
        "query reads: the sweep's query alone, one per due timer; tick: its claim, the query, "
        f"{DUE} timers fired through the dispatcher (each read, routed, written and published), its finish"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
