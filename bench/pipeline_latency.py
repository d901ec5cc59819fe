"""End-to-end latency through the `taops dev` pipeline on the emulators: a signed Deel
webhook POST until the first action it causes arrives on the `actions` topic.

Everything between is the deployed path: the webhook verifies and publishes to
`pto-logged`, the emulator pushes to `on_pto_logged` (functions-framework), the handler
commits to the Firestore emulator and publishes its due actions. Events are posted one at a
time (each waits for its action), so the figures are latency, not queueing.
"""

from __future__ import annotations

import json
import statistics
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
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 200
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


def main() -> int:
    reason = missing_tools()
    if reason:
        print(f"{'pipeline latency':<44}{'skipped':>12}   ({reason})")
        return 0
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
            for n in range(WARMUP + COUNT):
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
    print(f"{'pipeline latency p50 (webhook → actions)':<44}{statistics.median(samples):>12,.0f} ms")
    print(f"{'pipeline latency p99':<44}{_percentile(samples, 0.99):>12,.0f} ms   ({len(samples)} events)")
    if lost:
        print(f"{'events with no action within 30 s':<44}{lost:>12}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
