"""End-to-end latency through the `taops dev` pipeline on the emulators: a signed Deel
webhook POST until the first action it causes arrives on the `actions` topic.

Everything between is the deployed path: the webhook verifies and publishes to
`pto-logged`, the emulator pushes to `on_pto_logged` (functions-framework), the handler
commits to the Firestore emulator and publishes its due actions, while `deliver_action`
(dry run) claims and records the actions already published. Events are posted one at a
time (each waits for its action), so the figures are latency, not queueing.

    python bench/pipeline_latency.py [COUNT] [--warmup N] [--vs TREE]

The first ``--warmup`` events (40) are not counted: besides each function's first calls,
the emulators are Java processes whose code is compiled as it runs, and their first few
dozen transactions are several times slower than the rest (a deployed Firestore is a
warm service). Their own figures are printed apart, so nothing is hidden.

``--vs TREE`` first runs this same measurement (this file, the same warm-up) on another
checkout (the previous design: ``git worktree add --detach /work/old-latency 765be63``),
with this interpreter and that tree's code (its ``shared``, its functions), then here,
and prints the two side by side: one run, one machine, the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

# The tree measured: this one, or the one ``--vs`` names (set by this file for itself).
sys.path.insert(0, os.environ.get("TAOPS_BENCH_TREE") or str(Path(__file__).resolve().parents[1]))

import httpx

from shared import dev
from shared.localrun import missing_tools
from shared.sources import deel

ROOT = Path(os.environ.get("TAOPS_BENCH_TREE") or Path(__file__).resolve().parents[1])
WARMUP = 40  # unmeasured events that warm every process up (see the docstring)
TAS = ("ana@example.com", "ben@example.com", "carla@example.com", "dev@example.com")


def _payload(template: dict[str, Any], n: int) -> bytes:
    """Time off number ``n``: three days each, one TA after another, never overlapping."""
    first = date(2027, 1, 4) + timedelta(weeks=n // len(TAS) * 2, days=n % len(TAS))
    body = dev.deel_body(
        template, email=TAS[n % len(TAS)], start=first, end=first + timedelta(days=2), absence_id=f"bench-{n}"
    )
    return body.encode()


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


P50 = "pipeline latency p50 (webhook → actions)"
P99 = "pipeline latency p99"
WARM_P50 = "warm-up events, not counted: p50"
WARM_MAX = "warm-up events, not counted: slowest"


def _figure(output: str, label: str) -> str:
    """The figure a run printed for ``label`` (its text, e.g. "4,265 ms"), or "?"."""
    found = re.search(rf"^{re.escape(label)}\s+([\d,]+ ms)", output, re.MULTILINE)
    return found.group(1) if found else "?"


def _previous(tree: Path, count: int, warmup: int) -> str:
    """This bench run on ``tree``'s code: its whole output."""
    env = {**os.environ, "PYTHONPATH": str(tree), "TAOPS_BENCH_TREE": str(tree)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), str(count), "--warmup", str(warmup)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # Stopped by a signal, it still stops the pipeline it started (the emulators' Java
    # children outlive a process killed without its ``finally``).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser.add_argument("count", nargs="?", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=WARMUP, help="events not counted first")
    parser.add_argument("--vs", type=Path, help="another checkout to measure first, for comparison")
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        print(f"{'pipeline latency':<44}{'skipped':>12}   ({reason})")
        return 0
    before = _previous(args.vs.resolve(), args.count, args.warmup) if args.vs else None
    warm, samples, lost = measure(args.count, args.warmup)
    figures = {
        P50: f"{statistics.median(samples):,.0f} ms",
        P99: f"{_percentile(samples, 0.99):,.0f} ms",
    }
    if warm:
        figures[WARM_P50] = f"{statistics.median(warm):,.0f} ms"
        figures[WARM_MAX] = f"{max(warm):,.0f} ms"
    if before is not None:
        print(f"{'':<44}{'previous':>12}{'this tree':>12}   ({len(samples)} events each)")
        for label, figure in figures.items():
            print(f"{label:<44}{_figure(before, label):>12}{figure:>12}")
    else:
        for label, figure in figures.items():
            print(f"{label:<44}{figure:>12}" + (f"   ({len(samples)} events)" if label == P99 else ""))
    if lost:
        print(f"{'events with no action within 30 s':<44}{lost:>12}")
        return 1
    return 0


def measure(count: int, warmup: int) -> tuple[list[float], list[float], int]:
    """Latency samples (ms) of the ``warmup`` events, then of ``count`` more, and how many
    got no action."""
    book = json.loads((ROOT / "shared" / "demo" / "book.json").read_text())
    known = {p["email"] for p in book["people"] if p["role"] == "TA"}
    missing = set(TAS) - known
    if missing:
        raise SystemExit(f"the demo book has no TA {sorted(missing)}")
    pipeline = dev.start(ROOT / "shared" / "demo" / "book.json", say=lambda _: None)
    try:
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        probe = subscriber.subscription_path(dev.PROJECT, "actions-latency-probe")
        subscriber.create_subscription(name=probe, topic=f"projects/{dev.PROJECT}/topics/actions")
        arrived: dict[str, float] = {}
        signals: dict[str, threading.Event] = {}
        lock = threading.Lock()

        def on_message(message: pubsub_v1.subscriber.message.Message) -> None:
            absence = json.loads(message.data).get("absence_id")
            with lock:
                if absence and absence not in arrived:
                    arrived[absence] = time.perf_counter()
                    if absence in signals:
                        signals[absence].set()
            message.ack()

        stream = subscriber.subscribe(probe, callback=on_message)
        key = pipeline.env["TAOPS_DEEL_SIGNING_KEY"]
        template = json.loads(
            (ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text()
        )
        warm: list[float] = []
        samples: list[float] = []
        lost = 0
        with httpx.Client(timeout=30) as client:
            for n in range(warmup + count):
                raw, absence = _payload(template, n), f"bench-{n}"
                with lock:
                    signals[absence] = threading.Event()
                posted = time.perf_counter()
                response = client.post(
                    pipeline.urls["deel_webhook"],
                    content=raw,
                    headers={
                        "content-type": "application/json",
                        "x-deel-signature": deel.signature(key, raw),
                    },
                )
                response.raise_for_status()
                if not signals[absence].wait(30):
                    lost += 1
                    continue
                (samples if n >= warmup else warm).append((arrived[absence] - posted) * 1000)
        stream.cancel()
        stream.result(timeout=30)  # let the stream finish its acks before the channel closes
        subscriber.close()
    finally:
        pipeline.stop()
    return warm, samples, lost


if __name__ == "__main__":
    raise SystemExit(main())
