"""Working-time arithmetic: business days and hours in a person's time zone, holidays skipped.

Used where the handbook's clocks should not run over weekends (optional: the pooled
mailbox's 48 hours are wall-clock by default).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.policy import CalendarPolicy


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    import holidays as holidays_lib  # large: loaded only when a calendar needs holidays

    return frozenset(holidays_lib.country_holidays(country, subdiv=subdivision, years=year).keys())


def is_business_day(day: date, policy: CalendarPolicy) -> bool:
    if day.weekday() not in policy.working_days:
        return False
    if policy.skip_holidays and policy.holiday_country:
        return day not in _holidays(policy.holiday_country, policy.holiday_subdivision, day.year)
    return True


def _open_close(day: date, tz: ZoneInfo, policy: CalendarPolicy) -> tuple[datetime, datetime]:
    hours = policy.business_hours
    return (
        datetime.combine(day, hours.start, tzinfo=tz).astimezone(UTC),
        datetime.combine(day, hours.end, tzinfo=tz).astimezone(UTC),
    )


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("business-hours arithmetic needs timezone-aware datetimes")


def business_hours_between(start: datetime, end: datetime, timezone: str, policy: CalendarPolicy) -> float:
    """Working hours from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    _require_aware(start)
    _require_aware(end)
    if end < start:
        return -business_hours_between(end, start, timezone, policy)
    tz = ZoneInfo(timezone)
    total = timedelta()
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        if is_business_day(day, policy):
            opens, closes = _open_close(day, tz, policy)
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total.total_seconds() / 3600


def add_business_hours(start: datetime, hours: float, timezone: str, policy: CalendarPolicy) -> datetime:
    """The instant ``hours`` working hours after ``start`` (UTC).

    Starting outside working hours counts from the next opening. Raises ``ValueError``
    for negative hours or a naive datetime.
    """
    _require_aware(start)
    if hours < 0:
        raise ValueError("hours cannot be negative")
    tz = ZoneInfo(timezone)
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(tz).date()
    for _ in range(3660):  # ten years of days: a policy with no working day at all cannot spin
        if is_business_day(day, policy):
            opens, closes = _open_close(day, tz, policy)
            begin = max(opens, cursor)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
        cursor = max(cursor, datetime.combine(day, datetime.min.time(), tzinfo=tz).astimezone(UTC))
    raise ValueError("no working hours within ten years: check calendar.working_days")
