"""The cadences' cron schedules: when a five-field unix-cron expression fires, in a time zone.

Fields are minute, hour, day-of-month, month and day-of-week (0-6 from Sunday, 7 also
Sunday), each made of ``*``, numbers, ranges ``a-b``, steps ``/n`` and lists ``,`` (the
policy allows nothing else: no names, no ``L`` or ``?``). As in Vixie cron, when both
day-of-month and day-of-week are restricted a day matches if either does.

Everything is evaluated day by day in the cadence's ``time_zone``, never minute by minute,
and returned as aware UTC datetimes.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOOKBACK = timedelta(days=400)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int


_FIELDS = (
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day-of-month", 1, 31),
    _Field("month", 1, 12),
    _Field("day-of-week", 0, 7),
)


@dataclass(frozen=True)
class Schedule:
    """A parsed cron expression; hashable, so it can be cached and compared."""

    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]  # 0 = Sunday; a 7 in the expression is stored as 0
    day_of_month_restricted: bool
    day_of_week_restricted: bool

    @property
    def times(self) -> tuple[time, ...]:
        """Every wall-clock time of day it fires at, in order."""
        return _times(self.hours, self.minutes)

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        dom = day.day in self.days_of_month
        dow = day.isoweekday() % 7 in self.days_of_week
        if self.day_of_month_restricted and self.day_of_week_restricted:
            return dom or dow
        return dom and dow


@lru_cache(maxsize=256)
def _times(hours: frozenset[int], minutes: frozenset[int]) -> tuple[time, ...]:
    return tuple(time(h, m) for h in sorted(hours) for m in sorted(minutes))


def _number(text: str, field: _Field) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"{field.name}: {text!r} is not a number")
    value = int(text)
    if not field.low <= value <= field.high:
        raise ValueError(f"{field.name}: {value} is out of range {field.low}-{field.high}")
    return value


def _parse_field(text: str, field: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"{field.name}: empty list item in {text!r}")
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
                raise ValueError(f"{field.name}: step {step_text!r} must be a whole number of at least 1")
            step = int(step_text)
        if base == "*":
            low, high = field.low, field.high
        elif "-" in base:
            first, _, last = base.partition("-")
            low, high = _number(first, field), _number(last, field)
            if low > high:
                raise ValueError(f"{field.name}: range {low}-{high} runs backwards")
        else:
            low = _number(base, field)
            # "a/n" means from a to the field's end every n (cronie's reading); plain "a" is a.
            high = field.high if slash else low
        values.update(range(low, high + 1, step))
    if field.name == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values)


@lru_cache(maxsize=128)
def parse(expr: str) -> Schedule:
    """Parse a five-field cron expression.

    Raises ``ValueError`` naming the bad field, e.g. ``hour: 24 is out of range 0-23``.
    """
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(
            f"expected five fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    minutes, hours, doms, months, dows = (_parse_field(p, f) for p, f in zip(parts, _FIELDS, strict=True))
    return Schedule(
        expr=" ".join(parts),
        minutes=minutes,
        hours=hours,
        days_of_month=doms,
        months=months,
        days_of_week=dows,
        # Vixie cron's rule: a field starting with "*" (also "*/2") is unrestricted for the
        # day-of-month / day-of-week OR.
        day_of_month_restricted=not parts[2].startswith("*"),
        day_of_week_restricted=not parts[4].startswith("*"),
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time_zone: {name!r} is not an IANA time zone") from None


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("cron evaluation needs timezone-aware datetimes")


# Zones that are UTC under another name: no offset, no daylight saving time, ever.
_UTC_ZONES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})


@lru_cache(maxsize=4096)
def _fires_on(schedule: Schedule, day: date, tz: ZoneInfo) -> tuple[datetime, ...]:
    """The day's fire instants in UTC, in order (cached: every tick of a day asks again)."""
    if not schedule.matches_day(day):
        return ()
    if tz.key in _UTC_ZONES:  # every wall time exists once and is its own instant
        return tuple(datetime.combine(day, wall, tzinfo=UTC) for wall in schedule.times)
    out: list[datetime] = []
    for wall in schedule.times:
        local = datetime.combine(day, wall, tzinfo=tz)  # fold=0: the first of an ambiguous pair
        instant = local.astimezone(UTC)
        # A wall time inside a spring-forward gap does not exist and is skipped (Cloud
        # Scheduler only promises "anomalies" there; skipping never invents an extra run).
        if instant.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
            continue
        out.append(instant)
    return tuple(out)


def previous_fire(expr: str, time_zone: str, at: datetime) -> datetime | None:
    """The latest instant ``<= at`` the schedule fires at (UTC), looking back at most 400 days.

    ``None`` when it did not fire in that window. Raises ``ValueError`` for a bad expression,
    an unknown time zone or a naive ``at``.
    """
    _require_aware(at)
    schedule, tz = parse(expr), _zone(time_zone)
    floor = at - LOOKBACK
    # One day past at's local date: cheap insurance around midnight transitions.
    day = at.astimezone(tz).date() + timedelta(days=1)
    last = floor.astimezone(tz).date() - timedelta(days=1)
    while day >= last:
        fires = _fires_on(schedule, day, tz)
        index = bisect_right(fires, at)  # the fires at or before ``at`` on that day
        if index:
            instant = fires[index - 1]
            return instant if instant >= floor else None
        day -= timedelta(days=1)
    return None


def fire_times(expr: str, time_zone: str, start: datetime, end: datetime) -> list[datetime]:
    """Every instant ``t`` with ``start < t <= end`` the schedule fires at (UTC), in order.

    Raises ``ValueError`` for a bad expression, an unknown time zone or naive datetimes.
    """
    _require_aware(start)
    _require_aware(end)
    schedule, tz = parse(expr), _zone(time_zone)
    if end <= start:
        return []
    out: list[datetime] = []
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        out.extend(t for t in _fires_on(schedule, day, tz) if start < t <= end)
        day += timedelta(days=1)
    return sorted(out)
