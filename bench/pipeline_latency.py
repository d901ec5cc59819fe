"""End-to-end latency through the `taops dev` pipeline on the emulators: a signed Deel
webhook POST until the first action it causes arrives on the `actions` topic.

Everything between is the deployed path: the webhook verifies and publishes to
`pto-logged`, the emulator pushes to `on_pto_logged` (functions-framework), the handler
commits to the Firestore emulator and publishes its due actions, while `deliver_action`
(dry run) claims and records the actions already published. Events are posted one at a
time (each waits for its action), so the figures are latency, not queueing.

    python bench/pipeline_latency.py [COUNT] [--vs TREE]

``--vs TREE`` first runs this same measurement on another checkout (the previous design:
``git worktree add --detach /work/old-latency 765be63``), with this interpreter and that
tree first on ``PYTHONPATH`` (its functions import its own code), then here, and prints
the two side by side: one run, one machine, the same load.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from shared import dev
from shared.localrun import missing_tools
from shared.sources import deel

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 5  # unmeasured events that warm every process up
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


def _figure(output: str, label: str) -> str:
    """The figure a run printed for ``label`` (its text, e.g. "4,265 ms"), or "?"."""
    found = re.search(rf"^{re.escape(label)}\s+([\d,]+ ms)", output, re.MULTILINE)
    return found.group(1) if found else "?"


def _previous(tree: Path, count: int) -> str:
    """This bench as ``tree`` has it, run on ``tree``'s code: its whole output."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, str(tree / "bench" / "pipeline_latency.py"), str(count)],
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
    parser.add_argument("--vs", type=Path, help="another checkout to measure first, for comparison")
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        print(f"{'pipeline latency':<44}{'skipped':>12}   ({reason})")
        return 0
    before = _previous(args.vs.resolve(), args.count) if args.vs else None
    samples, lost = measure(args.count)
    p50, p99 = f"{statistics.median(samples):,.0f} ms", f"{_percentile(samples, 0.99):,.0f} ms"
    if before is not None:
        print(f"{'':<44}{'previous':>12}{'this tree':>12}   ({len(samples)} events each)")
        print(f"{P50:<44}{_figure(before, P50):>12}{p50:>12}")
        print(f"{P99:<44}{_figure(before, P99):>12}{p99:>12}")
    else:
        print(f"{P50:<44}{p50:>12}")
        print(f"{P99:<44}{p99:>12}   ({len(samples)} events)")
    if lost:
        print(f"{'events with no action within 30 s':<44}{lost:>12}")
        return 1
    return 0


def measure(count: int) -> tuple[list[float], int]:
    """Latency samples (ms) of ``count`` events after the warm-up, and how many got no action."""
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
        samples: list[float] = []
        lost = 0
        with httpx.Client(timeout=30) as client:
            for n in range(WARMUP + count):
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
                if n >= WARMUP:
                    samples.append((arrived[absence] - posted) * 1000)
        stream.cancel()
        stream.result(timeout=30)  # let the stream finish its acks before the channel closes
        subscriber.close()
    finally:
        pipeline.stop()
    return samples, lost


if __name__ == "__main__":
    raise SystemExit(main())
