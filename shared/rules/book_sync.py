"""What Vitally's view of an account changes in the book of business.

Vitally owns an account's seats, deployed version, versions behind, customer Slack
activity, open tickets and (with the pooled mailbox) its last contact. Values arrive
already in the book's stored form (whole numbers, ``YYYY-MM-DD`` dates, UTC times as
text); this module only compares. The sync uses it to decide whether an account needs an
event at all, and the handler to decide, inside its transaction, what to write: both ask
the same question, so a repeated sync of unchanged data changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# "Last" dates never go back: the latest of Vitally's and the book's is kept (a team reply
# in the pooled mailbox moves last_contact too).
LATEST_WINS = frozenset({"last_contact", "slack_last_activity"})

LABELS = {
    "seats_used": "seats used",
    "seats_licensed": "seats licensed",
    "deployed_version": "deployed version",
    "versions_behind": "versions behind",
    "last_contact": "last contact",
    "slack_last_activity": "Slack activity",
    "open_tickets": "open tickets",
    "health_score": "health score",
}

Change = tuple[Any, Any]


def _instant(value: Any) -> datetime | None:
    """A date or time as an aware moment (a date is its midnight UTC); None if it is neither."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _later(new: Any, old: Any) -> bool:
    """``new`` after ``old``, compared as moments (``...Z`` and ``...+00:00`` are the same
    time); an old value that is not a date or time is replaced."""
    before, after = _instant(old), _instant(new)
    return before is None or (after is not None and after > before)


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, bool) or isinstance(new, bool):
        return old is new
    if isinstance(old, int | float) and isinstance(new, int | float):
        return float(old) == float(new)
    return bool(old == new)


def field_changes(account: Mapping[str, Any], observed: Mapping[str, Any]) -> dict[str, Change]:
    """The observed fields that would change ``account``: field -> (old, new)."""
    changes: dict[str, Change] = {}
    for field, new in observed.items():
        old = account.get(field)
        if field in LATEST_WINS:
            if old is not None and not _later(new, old):
                continue
        elif _same(old, new):
            continue
        changes[field] = (old, new)
    return changes


def score_change(account: Mapping[str, Any], score: float | None) -> Change | None:
    """(old, new) when Vitally's health score differs from the book's, else None."""
    if score is None:
        return None
    old = account.get("health_score")
    return None if old is not None and _same(old, score) else (old, score)


def _shown(value: Any) -> str:
    return "unset" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def describe(changes: Mapping[str, Change]) -> str:
    """``seats used 11000 → 11800, open tickets 2 → 0``."""
    return ", ".join(
        f"{LABELS.get(field, field)} {_shown(old)} → {_shown(new)}" for field, (old, new) in changes.items()
    )
