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
