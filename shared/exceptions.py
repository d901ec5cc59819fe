"""Errors taops raises on purpose.

The split that matters to the platform is permanent versus transient: a permanent
error is acknowledged (retrying cannot help) and its input kept for inspection; a
transient error is raised so Pub/Sub or the vendor retries with backoff.
"""

from __future__ import annotations


class TaopsError(Exception):
    """Base of every error taops raises deliberately."""


class PermanentError(TaopsError):
    """Input that will never succeed: bad schema, unknown person, unknown account.

    ``reason`` is one line a person can act on.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(TaopsError):
    """A fault that may clear on retry: contention, a 5xx, a timeout."""


class ContentionError(TransientError):
    """A transaction lost to concurrent writers more often than it may retry."""


class ConfigurationError(TaopsError):
    """A credential or setting is missing or refused: retrying cannot help until an
    operator fixes it. The input is kept (dead letter) and the operators are alerted once
    per ``code`` per hour.

    ``code`` is a short stable name of the fault (``gmail-credentials``); ``reason`` is one
    line saying what to fix.
    """

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class PolicyError(TaopsError):
    """The policy file is invalid; ``problems`` lists each bad field by dotted path."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid policy {source}:\n{lines}")


class BookError(TaopsError):
    """The book of business file is invalid; ``problems`` names each record and field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid book {source}:\n{lines}")


class StoreError(TaopsError):
    """The state store was used against its contract (bad id, read after write...)."""
