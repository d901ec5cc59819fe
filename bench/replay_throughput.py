"""Replay throughput on the embedded store: lines per second and peak memory, and the
store operations each event type costs (document reads and writes as the adapter counts
them: the cost a Firestore deployment pays per event).

Both go through the dispatcher, as every entry point does: a tick line runs its job, and
the hourly ``sla-check`` ticks of the scenario fire the SLA timers the mail has started.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import shared.dispatch
from bench.scenario import BOOK, bench_context, generate
from shared.book import parse_book
from shared.bootstrap import Context
from shared.dispatch import TICK_TYPE
from shared.events import EventEnvelope
from shared.logs import muted
from shared.policy import load_policy
from shared.processing import ProcessResult
from shared.replay import normalize_line, parse_line, replay
from shared.store import EmbeddedStore

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000


def throughput(lines: list[str], memory: bool = True) -> tuple[float, float | None]:
    """Lines per second (timed without tracing) and the peak traced memory (a second run:
    tracemalloc slows Python several times over, so it never shares a run with the clock)."""
    policy, book = load_policy(), parse_book(json.loads(BOOK.read_text()))
    started = time.perf_counter()
    replay(lines, book, policy)
    elapsed = time.perf_counter() - started
    if not memory:
        return len(lines) / elapsed, None
    tracemalloc.start()
    replay(lines, book, policy)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return len(lines) / elapsed, peak / 2**20


def _label(event: EventEnvelope) -> str:
    if event.type == TICK_TYPE:
        return f"{event.type} ({event.payload.get('job')})"
    return event.type


@contextmanager
def counted(store: EmbeddedStore, totals: dict[str, list[int]]) -> Iterator[None]:
    """Every dispatch, the nested ones included, adds its own reads and writes to its
    event type: an ``sla-check`` tick dispatches each due timer itself, so the tick's row
    is its claim (which holds its query) and, when it fired anything, its finish; each
    firing counts under ``timer.fired``."""
    original = shared.dispatch.dispatch
    inner: list[list[int]] = []  # the operations of the dispatches running inside this one

    def dispatch(ctx: Context, event: EventEnvelope, now: datetime, **kwargs: Any) -> ProcessResult:
        reads, writes = store.reads, store.writes
        inner.append([0, 0])
        try:
            return original(ctx, event, now, **kwargs)
        finally:
            nested_reads, nested_writes = inner.pop()
            spent_reads, spent_writes = store.reads - reads, store.writes - writes
            entry = totals[_label(event)]
            entry[0] += spent_reads - nested_reads
            entry[1] += spent_writes - nested_writes
            entry[2] += 1
            if inner:
                inner[-1][0] += spent_reads
                inner[-1][1] += spent_writes

    # shared.jobs looks the dispatcher up when a sweep runs, so the timers it fires come
    # through here too.
    with mock.patch.object(shared.dispatch, "dispatch", dispatch), muted():
        yield


def operations(lines: list[str]) -> dict[str, tuple[float, float, int]]:
    """Mean reads and writes per event, by event type, each line dispatched on its own at
    its own time, with the deployed wiring's publish after each commit (replay's publisher:
    nothing leaves the process) and no delivery."""
    policy = load_policy()
    ctx = bench_context(policy)
    store = ctx.store
    assert isinstance(store, EmbeddedStore)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    previous = None
    with counted(store, totals):
        for number, text in enumerate(lines, start=1):
            line = parse_line(number, text, previous)
            previous = line.at
            for event in normalize_line(line, policy):
                shared.dispatch.dispatch(ctx, event, line.at)
    return {label: (r / n, w / n, n) for label, (r, w, n) in totals.items()}


def main() -> int:
    plain = generate(COUNT)
    lines = generate(COUNT, hourly_ticks=True)
    team = generate(COUNT, hourly_ticks=True, answered=0.9)
    ticks = len(lines) - COUNT
    rate, peak = throughput(lines)
    plain_rate, _ = throughput(plain, memory=False)
    team_rate, _ = throughput(team, memory=False)
    print(
        f"{'replay throughput, hourly ticks, team mailbox':<44}{team_rate:>12,.0f} lines/s"
        f"   (champions write; their TA answers 9 threads in 10)"
    )
    print(
        f"{'replay throughput, hourly ticks, nobody answers':<44}{rate:>12,.0f} lines/s"
        f"   ({COUNT:,} events + {ticks:,} ticks: every thread climbs the ladder)"
    )
    print(f"{'replay peak memory (tracemalloc), nobody answers':<44}{peak or 0:>12,.1f} MiB")
    print(
        f"{'replay throughput, no hourly ticks':<44}{plain_rate:>12,.0f} lines/s"
        f"   ({COUNT:,} events: the previous scenario)"
    )
    print(f"\n{'store operations per event (embedded adapter)':<44}{'reads':>8}{'writes':>8}{'events':>9}")
    for label, (reads, writes, count) in sorted(operations(lines).items()):
        print(f"  {label:<42}{reads:>8.1f}{writes:>8.1f}{count:>9,}")
    print(
        "  (a tick's row is its claim, which holds its query, and its finish when it fired"
        " anything; the timers it fires are timer.fired)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
