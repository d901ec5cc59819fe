"""Cold-start cost of the entry-point module, measured in fresh interpreters.

Prints the median wall time of ``import main`` and of importing the same third-party
packages alone (every third-party module ``main`` leaves in ``sys.modules``), and their ratio. A ratio near 1
means our own code adds nothing heavy at import: no clients, no connections, no policy
parsing. Aim: at most 1.2.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 9
OWN = {"main", "shared", "functions"}


def _python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout


def third_party_of_main() -> list[str]:
    stdlib = set(sys.stdlib_module_names)
    site = sysconfig.get_paths()["purelib"]
    code = (
        "import sys, json; before = set(sys.modules); import main; "
        "mods = set(sys.modules) - before; "
        "print(json.dumps(sorted(m for m in mods if getattr(sys.modules.get(m), '__file__', None) "
        f"and str(sys.modules[m].__file__).startswith({site!r}))))"
    )
    names = json.loads(_python(code))
    # Every third-party module main loads, not just the top-level packages: pydantic, for
    # one, loads most of itself lazily on first attribute access.
    return [n for n in names if n.split(".")[0] not in stdlib | OWN and not n.startswith("_")]


def timed_import(statement: str, after: str = "pass") -> float:
    code = f"{after}; import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    return float(_python(code))


# Each entry point imports its own module on its first call: that cost lands on the first
# request of a new instance, so it is shown too.
HANDLER_MODULES = (
    "functions.deel",
    "functions.salesforce",
    "functions.vitally",
    "functions.consumers",
    "functions.gmail",
    "functions.ticks",
    "functions.delivery",
)


def main() -> int:
    packages = third_party_of_main()
    baseline_stmt = "; ".join(f"import {p}" for p in packages) or "pass"
    base, ours = [], []
    for _ in range(RUNS):  # interleaved, so drift on the machine hits both alike
        base.append(timed_import(baseline_stmt))
        ours.append(timed_import("import main"))
    b, o = statistics.median(base), statistics.median(ours)
    ratio = o / b if b else float("inf")
    print(f"{'measure':<40}{'median (ms)':>12}")
    print(f"{'third-party packages alone':<40}{b * 1000:>12.1f}")
    print(f"{'import main (entry points)':<40}{o * 1000:>12.1f}")
    print(f"{'ratio (aim <= 1.2)':<40}{ratio:>12.2f}")
    for module in HANDLER_MODULES:
        first = statistics.median(timed_import(f"import {module}", after="import main") for _ in range(RUNS))
        print(f"{'first call: import ' + module:<40}{first * 1000:>12.1f}")
    tops = sorted({p.split(".")[0] for p in packages})
    print(f"baseline: {len(packages)} modules of {', '.join(tops)}; {RUNS} fresh interpreters each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
