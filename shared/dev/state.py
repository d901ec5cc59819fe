"""Where a running ``taops dev`` leaves its address: ``.taops/dev.json`` in the directory
it runs in, so that a second terminal (``taops dev mail | clock | tick``) finds it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PROJECT = "taops-local"
# What the Gmail stand-in takes as a bearer token (the functions present it).
DEV_GMAIL_TOKEN = "dev-gmail-token"
# Under the directory taops dev runs in; a second terminal finds them from there.
STATE_DIR = Path(".taops")
STATE_FILE = "dev.json"
CLOCK_FILE = "dev-clock"


class NotRunningError(Exception):
    """No ``taops dev`` pipeline is running where a sub-action looked for one."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(path: Path) -> dict[str, Any]:
    """The state of the pipeline that wrote ``path``; ``NotRunningError`` when there is none
    or it has exited."""
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        pid = int(state["pid"])
    except FileNotFoundError:
        raise NotRunningError(f"no {path}") from None
    except (OSError, ValueError, TypeError, KeyError):
        raise NotRunningError(f"{path} is unreadable: remove it and start `taops dev` again") from None
    if not _alive(pid):
        raise NotRunningError(f"{path} was left by taops dev (pid {pid}), which has exited")
    return dict(state)


def find_running(here: Path | None = None) -> dict[str, Any]:
    """The running pipeline's state, from ``.taops/dev.json`` in ``here`` (default: the
    working directory) or the nearest directory above that has one."""
    start = (here or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        path = folder / STATE_DIR / STATE_FILE
        if path.exists():
            return read_state(path)
    raise NotRunningError(
        f"no taops dev pipeline is running (no {STATE_DIR / STATE_FILE} in {start} or above): "
        "start one with `taops dev` in another terminal, from this directory"
    )
