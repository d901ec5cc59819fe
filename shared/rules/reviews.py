"""When the reviews happen, and when their reminders are owed.

MBRs happen in the second week of every month, internal QBRs in the first week of every
fiscal quarter (``shared.rules.fiscal``). A person's reminder for one of them is owed from
the start of the day that lies ``days_before`` working days before that week's Monday,
until the week is over, both read in the person's time zone: a tick that fires anywhere
in between gives it (a missed tick is caught up by the next), and once the week has ended
nothing is owed any more (a review that already happened is never reminded of).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from shared.policy import CalendarPolicy
from shared.rules.business_hours import is_business_day
from shared.rules.coverage import AWAY_STATUSES
from shared.rules.fiscal import fiscal_quarter, mbr_week, next_fiscal_quarter, qbr_week


@dataclass(frozen=True)
class ReminderWindow:
    """The review week of one ``period`` and the span in which its reminder is owed."""

    period: str  # "2026-12" for an MBR, "FY2027-Q4" for a QBR
    week_start: date  # Monday of the review week
    week_end: date  # its Sunday
    opens: datetime  # UTC: the reminder is owed from here...
    closes: datetime  # ...until here (exclusive): midnight after the week's Sunday

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, datetime) and self.opens <= moment < self.closes

    def data(self) -> dict[str, str]:
        return {"week_start": self.week_start.isoformat(), "week_end": self.week_end.isoformat()}


def working_days_before(day: date, days: int, calendar: CalendarPolicy) -> date:
    """The ``days``-th working day before ``day`` (``day`` itself for 0)."""
    found = day
    left = days
    while left > 0:
        found -= timedelta(days=1)
        if is_business_day(found, calendar):
            left -= 1
    return found


def local_midnight(day: date, timezone: str) -> datetime:
    """The start of ``day`` in ``timezone``, as a UTC instant."""
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def window(
    period: str, week: tuple[date, date], days_before: int, timezone: str, calendar: CalendarPolicy
) -> ReminderWindow:
    monday, sunday = week
    opens = local_midnight(working_days_before(monday, days_before, calendar), timezone)
    closes = local_midnight(sunday + timedelta(days=1), timezone)
    return ReminderWindow(period, monday, sunday, opens, closes)


def mbr_window(period: str, days_before: int, timezone: str, calendar: CalendarPolicy) -> ReminderWindow:
    """The window of the MBR of ``period`` (``YYYY-MM``)."""
    year, month = (int(part) for part in period.split("-"))
    return window(period, mbr_week(year, month, calendar), days_before, timezone, calendar)


def mbr_due(now: datetime, days_before: int, timezone: str, calendar: CalendarPolicy) -> list[ReminderWindow]:
    """The MBRs whose reminder is owed at ``now`` to someone in ``timezone``: this month's,
    and next month's once its window opened (a few working days before a second week that
    starts early in the month). Both only when a long ``days_before`` makes them overlap."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    index = today.year * 12 + today.month - 1
    periods = (f"{m // 12:04d}-{m % 12 + 1:02d}" for m in (index, index + 1))
    return [w for w in (mbr_window(p, days_before, timezone, calendar) for p in periods) if now in w]


# Fixed-offset zones at both ends of the world's clocks and UTC between: at any moment,
# every time zone's local date is one of theirs (local dates run from UTC-12's to UTC+14's,
# 26 hours apart, so at most three dates).
EVERY_LOCAL_DATE = ("Etc/GMT+12", "UTC", "Etc/GMT-14")


def owed_somewhere(
    owed: Callable[[datetime, int, str, CalendarPolicy], list[ReminderWindow]],
    now: datetime,
    days_before: int,
    calendar: CalendarPolicy,
) -> bool:
    """Whether a reminder (``mbr_due`` or ``qbr_due``) is owed at ``now`` to someone in any
    time zone. Its window opens and closes at local midnights, so whether it is owed
    depends only on the local date: outside every window a cadence need not read who the
    people are, or where."""
    return any(owed(now, days_before, zone, calendar) for zone in EVERY_LOCAL_DATE)


def qbr_due(now: datetime, days_before: int, timezone: str, calendar: CalendarPolicy) -> list[ReminderWindow]:
    """The internal QBRs whose reminder is owed at ``now`` to someone in ``timezone``: the
    current fiscal quarter's, and the next one's once its window opened."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    current = fiscal_quarter(today, calendar)
    quarters = (current, next_fiscal_quarter(current, calendar))
    found = (window(q.period, qbr_week(q, calendar), days_before, timezone, calendar) for q in quarters)
    return [w for w in found if now in w]


def _covered(spans: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> bool:
    """Whether the union of ``spans`` covers [start, end)."""
    cursor = start
    for span_start, span_end in sorted(spans):
        if span_start > cursor:
            break
        cursor = max(cursor, span_end)
        if cursor >= end:
            return True
    return cursor >= end


def away_all_week(
    absences: Iterable[Mapping[str, Any]],
    week: tuple[date, date],
    timezone: str,
    calendar: CalendarPolicy,
) -> bool:
    """Whether someone is away through every working hour of the week (absences requested
    or approved count, as routing counts them). A week without a working day is not one
    they are away for: there is nothing to move."""
    spans = [
        (datetime.fromisoformat(str(a["starts_at"])), datetime.fromisoformat(str(a["ends_at"])))
        for a in absences
        if a.get("status") in AWAY_STATUSES
    ]
    zone = ZoneInfo(timezone)
    hours = calendar.business_hours
    working = [
        day
        for day in (week[0] + timedelta(days=n) for n in range((week[1] - week[0]).days + 1))
        if is_business_day(day, calendar)
    ]
    return bool(working) and all(
        _covered(
            spans,
            datetime.combine(day, hours.start, tzinfo=zone).astimezone(UTC),
            datetime.combine(day, hours.end, tzinfo=zone).astimezone(UTC),
        )
        for day in working
    )


class Leaders(Protocol):
    """What finding someone's leadership needs of the directory."""

    def person(self, email: str) -> Mapping[str, Any] | None:
        """The directory entry of ``email``, or None."""

    def with_role(self, role: str) -> list[str]:
        """Everyone with ``role``."""


def leader(person: str, role: str, directory: Leaders) -> str | None:
    """The first person with ``role`` up ``person``'s manager chain; else, when nobody in
    the chain has it, the first in the directory who does (by email); None if nobody."""
    seen = {person}
    current = (directory.person(person) or {}).get("manager")
    while current and current not in seen:
        seen.add(str(current))
        entry = directory.person(str(current)) or {}
        if entry.get("role") == role:
            return str(current)
        current = entry.get("manager")
    anyone = sorted(directory.with_role(role))
    return anyone[0] if anyone else None
