"""Who hears, and when (design §5): every message addressed to a person goes through here.

``route(person, at, account_id, directory)`` is the person themselves when they are not
away at ``at``. When they are away: the cover their active coverage plan names for that
account, else the first of their ``coverage_peers`` who is not away, else their manager,
routed the same way. Never someone who is away: when the whole chain is, the original
person, and the reason says so. The reason of a routed message names who it was meant for.

``reach(...)`` adds working hours: the message is delivered inside the recipient's working
hours (the policy calendar's working days and business hours, minus the holidays of the
policy's country, in the recipient's time zone); otherwise ``not_before`` is their next
working hour. Who is away is read at that moment, not at the moment of deciding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from shared.policy import CalendarPolicy
from shared.rules.business_hours import calendar_key, next_working_time
from shared.rules.coverage import AWAY_STATUSES

Doc = Mapping[str, Any]


class Directory(Protocol):
    """What routing needs to know about people; handlers read it from the store lazily."""

    def person(self, email: str) -> Doc | None:
        """The directory entry of ``email``, or None."""

    def absences(self, email: str) -> Iterable[Doc]:
        """``email``'s absences that have not ended before the moment being decided."""

    def plan(self, absence_id: str) -> Doc | None:
        """The coverage plan of an absence, or None."""


@lru_cache(maxsize=8192)
def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


Spans = list[tuple[datetime, datetime, Doc]]
_SPANS: WeakKeyDictionary[Any, dict[str, Spans]] = WeakKeyDictionary()


def _memo(directory: Directory) -> dict[str, Spans]:
    """Where the spans of ``directory``'s people are kept: one decision's directory."""
    try:
        return _SPANS.setdefault(directory, {})
    except TypeError:  # a directory that cannot be weakly referenced: no memo
        return {}


def _spans(directory: Directory, email: str) -> Spans:
    """When ``email`` is away: (start, end, absence) of each live absence; worked out once
    per directory (one decision), however often routing asks."""
    if type(directory) is _Consulted:
        directory.emails.add(email)
        memo, inner = directory.memo, directory.directory
    else:
        memo, inner = _memo(directory), directory
    found = memo.get(email)
    if found is None:
        found = memo[email] = [
            (_instant(str(a["starts_at"])), _instant(str(a["ends_at"])), a)
            for a in inner.absences(email)
            if a.get("status") in AWAY_STATUSES
        ]
    return found


def absence_at(directory: Directory, email: str, at: datetime) -> Doc | None:
    """The absence that has ``email`` away at ``at``, if any (the latest-ending one)."""
    found: tuple[datetime, datetime, Doc] | None = None
    for span in _spans(directory, email):
        if span[0] <= at < span[1] and (found is None or span[1] > found[1]):
            found = span
    return found[2] if found else None


def name_of(directory: Directory, email: str) -> str:
    return str((directory.person(email) or {}).get("name") or email)


@dataclass(frozen=True)
class Route:
    meant_for: str
    to: str
    reason: str  # "" when ``to`` is ``meant_for``; else a clause naming who it was meant for


def _plan_cover(directory: Directory, absence: Doc, account_id: str | None) -> str | None:
    if not account_id:
        return None
    plan = directory.plan(str(absence["id"]))
    if not plan or plan.get("status") != "shared":
        return None
    for item in plan.get("items") or []:
        if item.get("account_id") == account_id:
            return str(item["cover"])
    return None


def _stand_in(
    directory: Directory, person: str, at: datetime, account_id: str | None, visited: set[str]
) -> tuple[str | None, str]:
    """Who stands in for an away ``person`` at ``at`` (None if nobody), and how."""
    visited.add(person)
    absence = absence_at(directory, person, at)
    if absence is None:
        return person, ""
    cover = _plan_cover(directory, absence, account_id)
    if cover and cover not in visited and absence_at(directory, cover, at) is None:
        return cover, "their cover for this account"
    entry = directory.person(person) or {}
    for peer in entry.get("coverage_peers") or []:
        if peer not in visited and directory.person(peer) and absence_at(directory, peer, at) is None:
            return str(peer), "their coverage peer"
    manager = entry.get("manager")
    if manager and manager not in visited:
        found, _how = _stand_in(directory, str(manager), at, account_id, visited)
        if found == manager:
            return found, "their manager"
        if found is not None:
            return found, f"standing in for their manager {name_of(directory, str(manager))}"
    return None, ""


def route(person: str, at: datetime, account_id: str | None, directory: Directory) -> Route:
    """Who hears what is meant for ``person`` at ``at`` (see the module docstring)."""
    absence = absence_at(directory, person, at)
    if absence is None:
        return Route(person, person, "")
    name = name_of(directory, person)
    until = f"{name}, who is out until {absence.get('end_date')}"
    found, how = _stand_in(directory, person, at, account_id, set())
    if found is None or found == person:
        return Route(
            person, person, f"for {until}: everyone who could stand in is away too, so {name} hears it"
        )
    return Route(person, found, f"for {until} ({name_of(directory, found)} is {how})")


@dataclass(frozen=True)
class Reach:
    """A routed recipient and the moment the message may be delivered."""

    route: Route
    not_before: datetime | None  # None: at once (inside working hours now)

    @property
    def to(self) -> str:
        return self.route.to


def timezone_of(directory: Directory, email: str, default: str) -> str:
    return str((directory.person(email) or {}).get("timezone") or default)


def _changes(directory: Directory, people: set[str], after: datetime, before: datetime) -> list[datetime]:
    """The moments in (after, before) at which one of ``people`` leaves or comes back."""
    moments = [
        edge
        for email in people
        for starts, ends, _ in _spans(directory, email)
        for edge in (starts, ends)
        if after < edge < before
    ]
    return sorted(moments)


class _Consulted:
    """A directory that remembers whose absences routing looked at: only their comings and
    goings can change who hears a message, so only they need watching."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.emails: set[str] = set()
        self.memo = _memo(directory)  # the spans of the directory it wraps

    def person(self, email: str) -> Doc | None:
        return self.directory.person(email)

    def absences(self, email: str) -> Iterable[Doc]:
        self.emails.add(email)
        return self.directory.absences(email)

    def plan(self, absence_id: str) -> Doc | None:
        return self.directory.plan(absence_id)


_OPENS: dict[tuple[datetime, str, object], datetime] = {}


def _next_working_time(moment: datetime, timezone: str, calendar: CalendarPolicy) -> datetime:
    """``next_working_time``, remembered: every recipient of every firing at one tick asks
    it about the same moment."""
    key = (moment, timezone, calendar_key(calendar))
    found = _OPENS.get(key)
    if found is None:
        if len(_OPENS) > 20_000:
            _OPENS.clear()
        found = _OPENS[key] = next_working_time(moment, timezone, calendar)
    return moment if found == moment else found  # "at once" is this very moment


def reach(
    person: str,
    now: datetime,
    account_id: str | None,
    directory: Directory,
    calendar: CalendarPolicy,
    default_timezone: str = "UTC",
) -> Reach:
    """``route`` plus working hours: the first moment from ``now`` at which whoever hears
    it then is working. Walks forward in time: to the next working hour of the one who
    would hear it, stopping on the way wherever an absence starts or ends, since routing
    changes there (someone at work on Friday may be away on Monday; someone covered for
    may be back before their cover's day begins)."""
    moment = now
    consulted = _Consulted(directory)
    chosen = Route(person, person, "")
    for _ in range(32):
        chosen = route(person, moment, account_id, consulted)
        opens = _next_working_time(moment, timezone_of(directory, chosen.to, default_timezone), calendar)
        if opens == moment:
            break
        changes = _changes(directory, consulted.emails, moment, opens)
        moment = changes[0] if changes else opens
    return Reach(chosen, None if moment <= now else moment)
