"""Replay throughput against another version of taops, side by side: the same scenario
files replayed by this tree and by another checkout (``git worktree add --detach DIR REV``),
whole process timed, the two run in turn so that a machine whose speed drifts slows both.

    python bench/replay_ab.py OTHER_TREE [--runs 7] [--warmup 1]

Each file is written by ``bench/scenario.py`` (team mailbox with hourly ticks, nobody
answers with hourly ticks, and the 10,000 events without ticks) and replayed by each tree
from inside it with this interpreter, ``python -m shared.cli replay FILE --book
shared/demo/book.json --json``, after checking that it imports its own ``shared``. The
ratio (this tree / the other) is taken pair by pair; medians are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
FILES = {
    "team mailbox, hourly ticks": ["--hourly-ticks", "--answered", "0.9"],
    "nobody answers, hourly ticks": ["--hourly-ticks"],
    "no hourly ticks": [],
}


def own_shared(tree: Path) -> None:
    found = subprocess.run(
        [sys.executable, "-c", "import shared; print(shared.__file__)"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{tree} imports shared from {found}, not its own")


def timed(tree: Path, events: Path) -> float:
    command = [sys.executable, "-m", "shared.cli", "replay", str(events), "--book", "shared/demo/book.json"]
    started = time.perf_counter()
    subprocess.run([*command, "--json"], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other version's source tree")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    for tree in (HERE, args.other):
        own_shared(tree)
    print(f"{'file':<30}{'this':>9}{'other':>9}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as scratch:
        for label, options in FILES.items():
            events = Path(scratch) / "events.jsonl"
            subprocess.run(
                [sys.executable, str(HERE / "bench" / "scenario.py"), str(events), *options],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            for _ in range(args.warmup):
                timed(HERE, events)
                timed(args.other, events)
            pairs = [(timed(HERE, events), timed(args.other, events)) for _ in range(args.runs)]
            this = statistics.median(a for a, _ in pairs)
            other = statistics.median(b for _, b in pairs)
            ratio = statistics.median(a / b for a, b in pairs)
            print(f"{label:<30}{this:>8.2f}s{other:>8.2f}s{ratio:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
