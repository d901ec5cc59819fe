"""A burst through the `taops dev` pipeline on the emulators: 2,000 mixed, validly signed
vendor calls (Deel time off, Salesforce renewals, Vitally health pings, customer mail to
the pooled mailbox; 10% exact duplicates, 5% older versions arriving after newer ones, a
few bodies that cannot be processed) posted 16 at a time; then every call is accounted
for from what the pipeline recorded: applied, duplicate, stale or dead-lettered, exactly
once, and no action decided or published twice.

    python bench/burst.py [CALLS] [--concurrency N]

Prints the throughput (events applied per second, from the first POST to the last
commit), the webhook's answer time and the time from a POST to the commit that applied
its event (p50/p99), and the accounting table; exits 1 on any contradiction. The
traffic and the accounting are ``tests/burst_traffic.py`` (the integration test
``tests/integration/test_burst.py`` runs a smaller burst with exact assertions).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import dev
from shared.localrun import missing_tools
from tests import burst_traffic as burst

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "shared" / "demo" / "book.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Stopped by a signal, it still stops the pipeline it started (the emulators' Java
    # children outlive a process killed without its ``finally``).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser.add_argument("calls", nargs="?", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--settle", type=float, default=600, help="seconds to wait for the pipeline to drain")
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        print(f"{'burst':<44}{'skipped':>12}   ({reason})")
        return 0
    book = json.loads(BOOK.read_text())
    with tempfile.TemporaryDirectory(prefix="taops-burst-") as state_dir:
        pipeline = dev.start(BOOK, say=lambda _: None, state_dir=Path(state_dir))
        try:
            probe = burst.ActionsProbe(dev.PROJECT, "actions-burst-probe")
            target = burst.Target(pipeline.urls, pipeline.env, pipeline.gmail_url, pipeline.mailbox)
            calls = burst.plan(args.calls, book, pipeline.mailbox)
            first = time.time()
            posting = burst.post(calls, target, burst.marker_exists(dev.PROJECT), args.concurrency)
            logs = [Path(p) for p in pipeline.logs().values()]
            state, outcomes = burst.settle(calls, pipeline.mailbox, dev.PROJECT, lambda: logs, args.settle)
            probe.close()
            result = burst.account(
                calls,
                pipeline.mailbox,
                state["processed_events"],
                state["entity_versions"],
                state["dead_letters"],
                list(state["outbox"].values()),
                probe.published(),
                outcomes,
            )
        finally:
            pipeline.stop()
    span = max(result.last_applied - first, posting)
    applied = result.total("applied")
    print(f"burst: {len(calls):,} calls, {args.concurrency} at a time, on {os.cpu_count()} CPUs")
    print(f"{'posting took':<44}{posting:>12,.1f} s")
    print(f"{'first POST → last commit':<44}{span:>12,.1f} s")
    print(f"{'throughput (events applied / s)':<44}{applied / span:>12,.1f}")
    print(f"{'calls answered / s':<44}{len(calls) / posting:>12,.1f}")
    print(
        f"{'answer p50 (POST → HTTP answer)':<44}{statistics.median(result.answer_after) * 1000:>12,.0f} ms"
    )
    print(f"{'answer p99':<44}{burst.percentile(result.answer_after, 0.99) * 1000:>12,.0f} ms")
    print(f"{'applied p50 (POST → commit)':<44}{statistics.median(result.applied_after) * 1000:>12,.0f} ms")
    print(f"{'applied p99':<44}{burst.percentile(result.applied_after, 0.99) * 1000:>12,.0f} ms")
    print(f"{'distinct events':<44}{result.events:>12,}")
    print(f"{'stale by arrival order (not planned)':<44}{result.unplanned_stale:>12,}")
    print(f"{'Pub/Sub redeliveries (seen as duplicates)':<44}{result.redeliveries:>12,}")
    print(f"{'actions decided (one per key)':<44}{result.actions:>12,}")
    print(f"{'actions published':<44}{sum(probe.published().values()):>12,}")
    print()
    for line in burst.table_lines(result):
        print(line)
    if result.kept:
        print(f"\n{len(result.kept)} valid event(s) refused by their handler and kept in dead_letters:")
        for label, reason in result.kept[:20]:
            print(f"  {label}: {reason}")
    if result.problems:
        print(f"\n{len(result.problems)} contradiction(s):")
        for problem in result.problems[:50]:
            print(f"  {problem}")
        return 1
    print("\nevery call accounted for once; no action decided or published twice")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
