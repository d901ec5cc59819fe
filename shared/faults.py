"""One place decides what a failure means, for every entry point (the webhooks answer with
an HTTP status instead: 503 for a transient fault, 400 for the rest, by ``classify`` too).

- transient (``TransientError``, Firestore or Pub/Sub unavailable, timeouts, connection
  resets): raised, so Pub/Sub redelivers with backoff;
- configuration (``ConfigurationError``: a credential missing or refused; an invalid
  policy): acknowledged, kept in ``dead_letters``, one ``ops.alert`` per fault per hour;
- bad input (``PermanentError`` and anything else: malformed data, values that overflow,
  a bug met by one input): acknowledged, logged with the event id, kept in ``dead_letters``.

Anything not known to be transient is treated as bad input: retrying a deterministic
failure for a day helps nobody, and the input is kept for inspection and replay.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from shared.exceptions import ConfigurationError, PermanentError, PolicyError, TransientError
from shared.logs import log
from shared.processing import dead_letter
from shared.store import Store


class Fault(StrEnum):
    TRANSIENT = "transient"
    CONFIGURATION = "configuration"
    BAD_INPUT = "bad_input"


def _library_fault(exc: BaseException) -> Fault | None:
    """Client-library faults, by what they mean here (the library is loaded if it raised)."""
    module = type(exc).__module__
    if module.startswith("google.api_core"):
        from google.api_core import exceptions as google

        if isinstance(
            exc,
            google.ServiceUnavailable
            | google.DeadlineExceeded
            | google.InternalServerError
            | google.TooManyRequests
            | google.Aborted
            | google.GatewayTimeout
            | google.BadGateway
            | google.RetryError
            | google.Unknown
            | google.Cancelled,
        ):
            return Fault.TRANSIENT
        # The deployment, not the input: a missing index (while one builds after a deploy),
        # a role not granted, a database or topic that does not exist.
        if isinstance(
            exc,
            google.FailedPrecondition | google.PermissionDenied | google.Unauthenticated | google.NotFound,
        ):
            return Fault.CONFIGURATION
        return None
    if module.startswith("httpx"):
        import httpx

        return Fault.TRANSIENT if isinstance(exc, httpx.TransportError) else None
    return Fault.TRANSIENT if module.startswith("grpc") else None


def classify(exc: BaseException) -> Fault:
    if isinstance(exc, TransientError):
        return Fault.TRANSIENT
    if isinstance(exc, ConfigurationError | PolicyError):
        return Fault.CONFIGURATION
    if isinstance(exc, ConnectionError | TimeoutError):
        return Fault.TRANSIENT
    return _library_fault(exc) or Fault.BAD_INPUT


def as_configuration(exc: BaseException) -> ConfigurationError:
    """A configuration fault as the ``ConfigurationError`` operators are alerted about."""
    if isinstance(exc, ConfigurationError):
        return exc
    if isinstance(exc, PolicyError):
        return ConfigurationError(
            "policy", f"the policy {exc.source} is invalid: {'; '.join(exc.problems)[:200]}"
        )
    return ConfigurationError(
        f"google-{type(exc).__name__.lower()}", f"Google Cloud refused: {reason_of(exc)}"
    )


def one_line(text: str, limit: int, more: str = "...") -> str:
    """``text`` on one line, at most ``limit`` characters (``more`` marks a cut)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - len(more)] + more


def reason_of(exc: BaseException) -> str:
    """One line a person can act on."""
    if isinstance(exc, PermanentError | ConfigurationError):
        text = exc.reason
    elif isinstance(exc, RecursionError):
        text = "input nested too deeply"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return one_line(text, 300)


Alert = Callable[[ConfigurationError], None]


def settle(
    store: Store | None,
    exc: BaseException,
    *,
    source: str,
    function: str,
    raw: bytes | str,
    now: datetime,
    event_id: str | None = None,
    attributes: dict[str, str] | None = None,
    alert: Alert | None = None,
) -> tuple[Fault, str, str | None]:
    """Deal with ``exc`` raised while handling ``raw``: re-raise a transient fault (the
    platform retries); otherwise keep the input in ``dead_letters``, log why, alert the
    operators for a configuration fault, and return (fault, reason, dead-letter id) so the
    caller acknowledges."""
    fault = classify(exc)
    reason = reason_of(exc)
    if fault is Fault.TRANSIENT:
        log(
            "WARNING",
            f"transient failure, will retry: {reason}",
            event_id=event_id,
            retry=True,
            fault=fault.value,
        )
        raise exc
    kept = None
    if store is not None:
        try:
            kept = dead_letter(
                store,
                source=source,
                function=function,
                reason=reason,
                raw=raw,
                now=now,
                event_id=event_id,
                attributes=attributes,
            )
        except TransientError as keep_failed:
            # Losing the copy is worse than a retry: let the platform redeliver.
            log("ERROR", f"could not keep the refused input, will retry: {keep_failed}", event_id=event_id)
            raise
    fields: dict[str, Any] = {
        "event_id": event_id,
        "reason": reason,
        "fault": fault.value,
        "dead_letter": kept,
    }
    if fault is Fault.CONFIGURATION:
        log("ERROR", f"configuration fault, kept for when it is fixed: {reason}", **fields)
        if alert is not None:
            alert(as_configuration(exc))
    elif isinstance(exc, PermanentError):
        log("ERROR", f"rejected: {reason}", outcome="rejected", **fields)
    else:
        where = traceback.extract_tb(exc.__traceback__)[-3:] if exc.__traceback__ else []
        log(
            "ERROR",
            f"rejected (unexpected {type(exc).__name__}): {reason}",
            outcome="rejected",
            at=[f"{frame.filename.rsplit('/', 2)[-1]}:{frame.lineno} {frame.name}" for frame in where],
            **fields,
        )
    return fault, reason, kept
