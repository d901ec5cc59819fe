"""Eight events about one account handled at once by eight function instances on the
Firestore emulator (the scenario of ``tests/integration/test_one_account_concurrency.py``):
how long until all eight are committed, how many applied, and how many transactions lost
to another and ran again. A second, harder mix makes events contend on the same entities
too: two health pings and two moves of the same renewal (the older of each may be
``stale``), two time offs of its TA and two customer mails.

    python bench/one_account.py [--vs TREE]

``--vs TREE`` first runs the same scenario on another checkout's code (the previous
design: ``git worktree add --detach /work/old-latency 765be63``), then on this one, and
prints both: one run, one machine.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
SCENARIO = HERE / "tests" / "integration" / "test_one_account_concurrency.py"
# The previous design applied a few of the eight in minutes: a bound, not a figure.
BOUND_SECONDS = 600


def _harder_events(policy: Any) -> list[Any]:
    """The harder mix: same-entity updates among the eight."""
    from datetime import UTC, date, datetime

    from shared.replay import normalize_line, parse_line
    from tests.functional.test_health import ping, time_off
    from tests.functional.test_renewal_process import renewal_moved
    from tests.gmail_messages import gmail_message, line

    def mail(n: int) -> str:
        at = datetime(2026, 12, 1, 9, 10 + n, tzinfo=UTC)
        return line(
            at, "gmail", gmail_message(f"hard-m{n}", f"hard-t{n}", "jo@acme.test", f"Question {n}", at)
        )

    lines = [
        ping("2026-12-01T09:00:00", "acme", 3.0),
        ping("2026-12-01T09:01:00", "acme", 6.5),
        time_off(
            "ana@example.com",
            "Ana Ruiz",
            date(2026, 12, 14),
            date(2026, 12, 16),
            "hard-1",
            "2026-12-01T09:02:00",
        ),
        time_off(
            "ana@example.com",
            "Ana Ruiz",
            date(2027, 1, 11),
            date(2027, 1, 13),
            "hard-2",
            "2026-12-01T09:03:00",
        ),
        mail(1),
        mail(2),
        renewal_moved("2026-12-01T09:06:00", "001ACME", "2027-01-20", 7),
        renewal_moved("2026-12-01T09:07:00", "001ACME", "2027-01-25", 8),
    ]
    return [e for n, text in enumerate(lines, 1) for e in normalize_line(parse_line(n, text, None), policy)]


def _measure(tree: Path) -> dict[str, Any]:
    sys.path.insert(0, str(tree))
    from shared.localrun import emulator, missing_tools
    from shared.policy import load_policy
    from shared.processing import Outcome
    from shared.store.firestore import FirestoreStore

    reason = missing_tools()
    if reason:
        return {"skipped": reason}
    spec = importlib.util.spec_from_file_location("one_account_scenario", SCENARIO)
    assert spec is not None and spec.loader is not None
    scenario = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scenario)
    os.environ["TAOPS_PUBLISH_ACTIONS"] = "0"
    policy = load_policy()
    service = emulator("firestore", "taops-bench")
    try:
        service.wait_ready()
        os.environ["FIRESTORE_EMULATOR_HOST"] = service.host
        figures: dict[str, Any] = {}
        for mix, events in (("mix", scenario.one_account_events(policy)), ("harder", _harder_events(policy))):
            project = f"bench-{uuid.uuid4().hex[:8]}"
            stores = [FirestoreStore(project=project) for _ in range(scenario.INSTANCES)]
            scenario.load_book(stores[0], policy)
            started = time.perf_counter()
            results = scenario.run_at_once(stores, events, policy)
            seconds = time.perf_counter() - started
            figures[mix] = {
                "seconds": round(seconds, 1),
                "applied": sum(r.outcome is Outcome.APPLIED for r in results),
                "stale": sum(r.outcome is Outcome.STALE for r in results),
                "events": len(events),
                # Only this tree's adapter counts them.
                "retries": sum(getattr(s, "retries", 0) for s in stores)
                if hasattr(stores[0], "retries")
                else None,
            }
    finally:
        service.stop()
    return figures


def _rows(label: str, measured: dict[str, Any]) -> list[str]:
    if "skipped" in measured:
        return [f"{label:<12}skipped ({measured['skipped']})"]
    if "timeout" in measured:
        return [f"{label:<12}not done after {BOUND_SECONDS} s"]
    rows = []
    for mix, figures in measured.items():
        retries = figures["retries"]
        rows.append(
            f"{label:<12}{mix:<8}{figures['seconds']:>8} s   {figures['applied']}/{figures['events']} applied"
            + (f", {figures['stale']} stale" if figures["stale"] else "")
            + (f"   {retries} transactions ran again" if retries is not None else "")
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vs", type=Path, help="another checkout to measure first, for comparison")
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)  # the code to measure (--vs)
    args = parser.parse_args()
    if args.tree:
        print(json.dumps(_measure(args.tree.resolve())))
        return 0
    rows = []
    if args.vs:
        try:
            done = subprocess.run(
                [sys.executable, __file__, "--tree", str(args.vs.resolve())],
                env={**os.environ, "PYTHONPATH": str(args.vs.resolve())},
                capture_output=True,
                text=True,
                timeout=BOUND_SECONDS,
                check=True,
            )
            rows += _rows("previous", json.loads(done.stdout.strip().splitlines()[-1]))
        except subprocess.TimeoutExpired:
            rows += _rows("previous", {"timeout": True})
    rows += _rows("this tree", _measure(HERE))
    print("eight events on one account at once (Firestore emulator, 8 instances)")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
