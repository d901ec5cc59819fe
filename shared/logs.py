"""Single-line JSON logs in the structure Cloud Logging reads from stdout.

Each line has ``severity``, ``message``, ``time`` and whatever fields the caller adds
(``event_id``, ``function``, ``reason``...). A trace id, when the request carried one, goes
in ``logging.googleapis.com/trace`` so Cloud Logging groups the lines of one request.

No value reaches a line longer than ``MAX_VALUE`` characters: a string (the message, a
field, a note inside a list) past it is cut, with an ellipsis and its original length, so
a 160 KB field in a bad request costs a short line, not a 320 KB one.
"""

from __future__ import annotations

import json
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

_context: ContextVar[dict[str, Any] | None] = ContextVar("taops_log_context", default=None)
_muted: ContextVar[bool] = ContextVar("taops_log_muted", default=False)
SEVERITIES = ("DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL")
MAX_VALUE = 200


def clip(text: str, limit: int = MAX_VALUE) -> str:
    """``text`` itself when short enough, else its first ``limit`` characters, an ellipsis
    and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text)} chars)"


def _capped(value: Any, depth: int = 0) -> Any:
    """``value`` with every string in it clipped (lists and mappings followed a few levels;
    anything else is written as its clipped text)."""
    if isinstance(value, str):
        return clip(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth < 6 and isinstance(value, dict):
        return {clip(str(k)): _capped(v, depth + 1) for k, v in value.items()}
    if depth < 6 and isinstance(value, list | tuple):
        return [_capped(v, depth + 1) for v in value]
    return clip(str(value))


def trace_field(trace_id: str | None) -> dict[str, str]:
    """The Cloud Logging trace field for a W3C ``traceparent`` or ``X-Cloud-Trace-Context``."""
    if not trace_id:
        return {}
    if trace_id.count("-") == 3:  # traceparent: version-traceid-spanid-flags
        trace_id = trace_id.split("-")[1]
    trace_id = trace_id.split("/")[0].split(";")[0]
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "taops-local")
    return {"logging.googleapis.com/trace": f"projects/{project}/traces/{trace_id}"}


class bind:
    """Fields added to every log line inside a ``with`` block (function, event id, trace)."""

    def __init__(self, **fields: Any) -> None:
        self._fields = fields
        self._token: Any = None

    def __enter__(self) -> None:
        merged = {**(_context.get() or {}), **{k: v for k, v in self._fields.items() if v is not None}}
        self._token = _context.set(merged)

    def __exit__(self, *exc: object) -> None:
        _context.reset(self._token)


class muted:
    """No log lines inside a ``with`` block: replay and the demo tell their story in their
    own timeline, and their output must stay what the user asked for."""

    def __enter__(self) -> None:
        self._token = _muted.set(True)

    def __exit__(self, *exc: object) -> None:
        _muted.reset(self._token)


def enabled() -> bool:
    """Whether log lines are written here (not inside ``muted``): worth building them."""
    return not _muted.get()


def log(severity: str, message: str, *, stream: TextIO | None = None, **fields: Any) -> dict[str, Any]:
    """Write one JSON line and return it (handy for tests and the CLI)."""
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}")
    if _muted.get():
        return {"severity": severity, "message": message, **fields}
    entry: dict[str, Any] = {
        "severity": severity,
        "message": clip(message),
        "time": datetime.now(UTC).isoformat(),
        **{k: _capped(v) for k, v in (_context.get() or {}).items()},
        **{k: _capped(v) for k, v in fields.items()},
    }
    out = stream or sys.stdout
    out.write(json.dumps(entry, default=str, sort_keys=False) + "\n")
    out.flush()
    return entry
