"""Working-time arithmetic: business days and hours in a person's time zone, holidays skipped.

Three clocks, chosen by name through ``clock_add`` / ``clock_hours_between``:

- ``calendar``: plain elapsed time;
- ``working_days``: every hour of a working day counts, midnight to midnight in the time
  zone, and no hour of a weekend or holiday does; the pooled mailbox's 48-hour SLA runs on
  this clock by default (``group_mail.sla_clock``);
- ``business_hours``: only the calendar's opening hours on working days count.

``next_working_time`` is when a message meant for working hours can go out. Working days
are the policy's ``working_days`` minus the public holidays of ``holiday_country`` when
``skip_holidays`` is on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.policy import CalendarPolicy

CLOCKS = ("calendar", "working_days", "business_hours")
# Ten years of days: a policy with no working day at all cannot make a search spin.
_MAX_DAYS = 3660


@lru_cache(maxsize=64)
def _holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    import holidays as holidays_lib  # large: loaded only when a calendar needs holidays

    return frozenset(holidays_lib.country_holidays(country, subdiv=subdivision, years=year).keys())


# A key for each distinct set of calendar settings (equal calendars share one), and the
# key of each calendar object seen, by identity (the calendar kept, so its id stays its
# own): caches of working-time answers hash a small number instead of every setting.
_SETTINGS_NUMBERS: dict[tuple[object, ...], int] = {}
_CALENDARS: dict[int, tuple[CalendarPolicy, object]] = {}


def calendar_key(calendar: CalendarPolicy) -> object:
    """A hashable key equal for calendars with equal settings: a number for the first
    1,024 distinct settings, the settings themselves after that (never reused)."""
    known = _CALENDARS.get(id(calendar))
    if known is None or known[0] is not calendar:
        values = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in calendar.__dict__.items())
        key: object = _SETTINGS_NUMBERS.get(values)
        if key is None:
            key = values
            if len(_SETTINGS_NUMBERS) < 1024:
                key = _SETTINGS_NUMBERS[values] = len(_SETTINGS_NUMBERS)
        if len(_CALENDARS) > 64:
            _CALENDARS.clear()
        known = _CALENDARS[id(calendar)] = (calendar, key)
    return known[1]


def is_business_day(day: date, policy: CalendarPolicy) -> bool:
    if day.weekday() not in policy.working_days:
        return False
    if policy.skip_holidays and policy.holiday_country:
        return day not in _holidays(policy.holiday_country, policy.holiday_subdivision, day.year)
    return True


def _open_close(day: date, tz: ZoneInfo, policy: CalendarPolicy) -> tuple[datetime, datetime]:
    hours = policy.business_hours
    return _between(day, hours.start, hours.end, tz)


@lru_cache(maxsize=8192)
def _between(day: date, start: time, end: time, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """``start`` and ``end`` on ``day`` in ``tz``, in UTC (every clock asks about the same
    few weeks of days again and again)."""
    return (
        datetime.combine(day, start, tzinfo=tz).astimezone(UTC),
        datetime.combine(day, end, tzinfo=tz).astimezone(UTC),
    )


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("business-hours arithmetic needs timezone-aware datetimes")


Window = Callable[[date, ZoneInfo], tuple[datetime, datetime]]


def _hours_between(
    start: datetime, end: datetime, timezone: str, policy: CalendarPolicy, window: Window
) -> float:
    """Hours of ``window`` on business days from ``start`` to ``end`` (negative backwards)."""
    _require_aware(start)
    _require_aware(end)
    if end < start:
        return -_hours_between(end, start, timezone, policy, window)
    tz = ZoneInfo(timezone)
    total = timedelta()
    day = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    while day <= last:
        if is_business_day(day, policy):
            opens, closes = window(day, tz)
            lo, hi = max(opens, start), min(closes, end)
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total.total_seconds() / 3600


def _add_hours(
    start: datetime, hours: float, timezone: str, policy: CalendarPolicy, window: Window
) -> datetime:
    """The instant ``hours`` hours of ``window`` on business days after ``start`` (UTC)."""
    _require_aware(start)
    if hours < 0:
        raise ValueError("hours cannot be negative")
    tz = ZoneInfo(timezone)
    remaining = timedelta(hours=hours)
    cursor = start.astimezone(UTC)
    day = cursor.astimezone(tz).date()
    for _ in range(_MAX_DAYS):
        if is_business_day(day, policy):
            opens, closes = window(day, tz)
            begin = max(opens, cursor)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
        day += timedelta(days=1)
    raise ValueError("no working hours within ten years: check calendar.working_days")


def business_hours_between(start: datetime, end: datetime, timezone: str, policy: CalendarPolicy) -> float:
    """Working hours from ``start`` to ``end`` (negative when ``end`` is earlier)."""
    return _hours_between(start, end, timezone, policy, lambda day, tz: _open_close(day, tz, policy))


def add_business_hours(start: datetime, hours: float, timezone: str, policy: CalendarPolicy) -> datetime:
    """The instant ``hours`` working hours after ``start`` (UTC).

    Starting outside working hours counts from the next opening. Raises ``ValueError``
    for negative hours or a naive datetime.
    """
    return _add_hours(start, hours, timezone, policy, lambda day, tz: _open_close(day, tz, policy))


def next_working_time(at: datetime, timezone: str, policy: CalendarPolicy) -> datetime:
    """``at`` itself when inside business hours on a business day, else the next opening (UTC).

    Business hours run from ``start`` (included) to ``end`` (excluded). Raises ``ValueError``
    for a naive datetime or when no business day comes within ten years.
    """
    _require_aware(at)
    tz = ZoneInfo(timezone)
    day = at.astimezone(tz).date()
    for _ in range(_MAX_DAYS):
        if is_business_day(day, policy):
            opens, closes = _open_close(day, tz, policy)
            if at < closes:
                return at if at >= opens else opens
        day += timedelta(days=1)
    raise ValueError("no working day within ten years: check calendar.working_days")


def last_working_time(at: datetime, timezone: str, policy: CalendarPolicy) -> datetime:
    """``at`` itself when inside business hours on a business day, else the start of the
    last working hour before it (UTC): where a reminder meant for the night goes, so it is
    read the evening before rather than the morning after.

    Raises ``ValueError`` for a naive datetime or when no business day came within ten years.
    """
    _require_aware(at)
    tz = ZoneInfo(timezone)
    day = at.astimezone(tz).date()
    for _ in range(_MAX_DAYS):
        if is_business_day(day, policy):
            opens, closes = _open_close(day, tz, policy)
            if at >= opens:
                return at if at < closes else max(opens, closes - timedelta(hours=1))
        day -= timedelta(days=1)
    raise ValueError("no working day within ten years: check calendar.working_days")


@lru_cache(maxsize=8192)
def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The day's midnight and the next (UTC): 23 or 25 real hours on a DST change day.

    fold=0 puts a midnight that falls in a spring-forward gap at the gap's start, where the
    day really begins.
    """
    return (
        datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC),
    )


def working_day_hours_between(start: datetime, end: datetime, timezone: str, policy: CalendarPolicy) -> float:
    """Hours of working days from ``start`` to ``end`` (negative when ``end`` is earlier).

    Every hour of a working day counts; weekend and holiday hours do not.
    """
    return _hours_between(start, end, timezone, policy, _day_bounds)


def add_working_day_hours(start: datetime, hours: float, timezone: str, policy: CalendarPolicy) -> datetime:
    """The instant ``hours`` working-day hours after ``start`` (UTC).

    A start on a weekend or holiday counts from the next working day's midnight. Raises
    ``ValueError`` for negative hours, a naive datetime, or no working day within ten years.
    """
    return _add_hours(start, hours, timezone, policy, _day_bounds)


def _check_clock(clock: str) -> None:
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}: expected one of {', '.join(CLOCKS)}")


def clock_add(start: datetime, hours: float, clock: str, timezone: str, policy: CalendarPolicy) -> datetime:
    """``hours`` after ``start`` on ``clock`` (one of ``CLOCKS``), in UTC.

    Raises ``ValueError`` for an unknown clock, negative hours or a naive datetime.
    """
    _check_clock(clock)
    if clock == "working_days":
        return add_working_day_hours(start, hours, timezone, policy)
    if clock == "business_hours":
        return add_business_hours(start, hours, timezone, policy)
    _require_aware(start)
    if hours < 0:
        raise ValueError("hours cannot be negative")
    return start.astimezone(UTC) + timedelta(hours=hours)


def clock_hours_between(
    start: datetime, end: datetime, clock: str, timezone: str, policy: CalendarPolicy
) -> float:
    """Hours from ``start`` to ``end`` on ``clock`` (negative when ``end`` is earlier).

    Raises ``ValueError`` for an unknown clock or a naive datetime.
    """
    _check_clock(clock)
    if clock == "working_days":
        return working_day_hours_between(start, end, timezone, policy)
    if clock == "business_hours":
        return business_hours_between(start, end, timezone, policy)
    _require_aware(start)
    _require_aware(end)
    return (end - start).total_seconds() / 3600
