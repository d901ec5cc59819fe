"""Eight events about one account handled at once by eight function instances on the
Firestore emulator (the scenario of ``tests/integration/test_one_account_concurrency.py``):
how long until all eight are committed, how many applied, and how many transactions lost
to another and ran again.

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

HERE = Path(__file__).resolve().parents[1]
SCENARIO = HERE / "tests" / "integration" / "test_one_account_concurrency.py"
# The previous design applied a few of the eight in minutes: a bound, not a figure.
BOUND_SECONDS = 600


def _measure(tree: Path) -> dict[str, object]:
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
        project = f"bench-{uuid.uuid4().hex[:8]}"
        stores = [FirestoreStore(project=project) for _ in range(scenario.INSTANCES)]
        scenario.load_book(stores[0], policy)
        events = scenario.one_account_events(policy)
        started = time.perf_counter()
        results = scenario.run_at_once(stores, events, policy)
        seconds = time.perf_counter() - started
    finally:
        service.stop()
    return {
        "seconds": round(seconds, 1),
        "applied": sum(r.outcome is Outcome.APPLIED for r in results),
        "events": len(events),
        # Only this tree's adapter counts them.
        "retries": sum(getattr(s, "retries", 0) for s in stores) if hasattr(stores[0], "retries") else None,
    }


def _row(label: str, figures: dict[str, object]) -> str:
    if "skipped" in figures:
        return f"{label:<12}skipped ({figures['skipped']})"
    if "timeout" in figures:
        return f"{label:<12}not done after {BOUND_SECONDS} s"
    retries = figures["retries"]
    return f"{label:<12}{figures['seconds']:>8} s   {figures['applied']}/{figures['events']} applied" + (
        f"   {retries} transactions ran again" if retries is not None else ""
    )


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
            rows.append(_row("previous", json.loads(done.stdout.strip().splitlines()[-1])))
        except subprocess.TimeoutExpired:
            rows.append(_row("previous", {"timeout": True}))
    rows.append(_row("this tree", _measure(HERE)))
    print("eight events on one account at once (Firestore emulator, 8 instances)")
    for row in rows:
        print(row)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
