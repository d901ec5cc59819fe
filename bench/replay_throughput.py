"""Replay throughput on the embedded store: events per second and peak memory, and the
store operations each event type costs (document reads and writes as the adapter counts
them: the cost a Firestore deployment pays per event)."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scenario import BOOK, generate
from shared.book import import_book, parse_book
from shared.exceptions import TaopsError
from shared.policy import load_policy
from shared.processing import process
from shared.replay import normalize_line, parse_line, replay
from shared.store import EmbeddedStore

COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000


def throughput(lines: list[str]) -> tuple[float, float]:
    """Events per second (timed without tracing) and the peak traced memory (a second run:
    tracemalloc slows Python several times over, so it never shares a run with the clock)."""
    policy, book = load_policy(), parse_book(json.loads(BOOK.read_text()))
    started = time.perf_counter()
    replay(lines, book, policy)
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    replay(lines, book, policy)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return len(lines) / elapsed, peak / 2**20


def operations(lines: list[str]) -> dict[str, tuple[float, float, int]]:
    """Mean reads and writes per event, by event type, processing each event on its own."""
    policy, book = load_policy(), parse_book(json.loads(BOOK.read_text()))
    store = EmbeddedStore()
    import_book(store, book, policy)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    previous = None
    for number, text in enumerate(lines, start=1):
        line = parse_line(number, text, previous)
        previous = line.at
        events, handler = normalize_line(line, policy)
        for event in events:
            reads, writes = store.reads, store.writes
            # A rejected event still cost its reads.
            with contextlib.suppress(TaopsError):
                process(store, event, handler, line.at)
            entry = totals[event.type]
            entry[0] += store.reads - reads
            entry[1] += store.writes - writes
            entry[2] += 1
    return {source: (r / n, w / n, n) for source, (r, w, n) in totals.items()}


def main() -> int:
    lines = generate(COUNT)
    rate, peak = throughput(lines)
    print(f"{'replay throughput':<44}{rate:>12,.0f} events/s")
    print(f"{'replay peak memory (tracemalloc)':<44}{peak:>12,.1f} MiB   ({COUNT:,} events)")
    print(f"\n{'store operations per event (embedded adapter)':<44}{'reads':>8}{'writes':>8}{'events':>9}")
    for source, (reads, writes, count) in sorted(operations(lines).items()):
        print(f"  {source:<42}{reads:>8.1f}{writes:>8.1f}{count:>9,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
