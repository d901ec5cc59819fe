"""The one place entry points read the time.

``TAOPS_CLOCK`` (an ISO-8601 instant) fixes it: replays and tests run at a chosen moment.
``TAOPS_CLOCK_FILE`` (a path) fixes it for every process that shares the file: while the
file holds an ISO-8601 instant, that is the time. It is read again on every call, so
rewriting it (``taops dev clock``) moves every process at once; a missing or empty file
means the real time. When both are set, ``TAOPS_CLOCK`` wins.
An instant without a time zone is UTC. Rules never read the clock: ``now`` is passed to them.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

CLOCK_FILE_ENV = "TAOPS_CLOCK_FILE"


def instant(text: str) -> datetime:
    """An aware datetime from ISO-8601 text (UTC when it names no zone); ``ValueError`` if
    it is not one."""
    moment = datetime.fromisoformat(text.strip())
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_file(path: str | os.PathLike[str]) -> datetime | None:
    """The instant a clock file holds, or None when it is missing or empty.

    Raises ``ValueError`` naming the file when it holds anything else, and ``OSError``
    when it exists but cannot be read.
    """
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    try:
        return instant(text)
    except ValueError:
        raise ValueError(f"{CLOCK_FILE_ENV} {path}: {text[:60]!r} is not an ISO-8601 instant") from None


def write_file(path: str | os.PathLike[str], moment: datetime | None) -> None:
    """Fix the time of every process reading ``path`` to ``moment`` (None: back to the
    real time). The file is replaced in one step, so a reader never sees half of it."""
    target = Path(path)
    if moment is None:
        target.unlink(missing_ok=True)
        return
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(aware.isoformat() + "\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def is_simulated() -> bool:
    """Whether the time is fixed or simulated (``TAOPS_CLOCK``, or a clock file that holds
    one): then the clock, not Pub/Sub's real publish times, says what time it is."""
    path = os.environ.get(CLOCK_FILE_ENV)
    return bool(os.environ.get("TAOPS_CLOCK")) or (bool(path) and read_file(str(path)) is not None)


def now() -> datetime:
    fixed = os.environ.get("TAOPS_CLOCK")
    if fixed:
        return instant(fixed)
    path = os.environ.get(CLOCK_FILE_ENV)
    if path:
        moment = read_file(path)
        if moment is not None:
            return moment
    return datetime.now(UTC)
