"""Absence windows: Deel gives dates, the handbook acts on instants in the TA's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.policy import AbsencePolicy


def _local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    # A wall time that a DST jump skips is read with the offset before the jump
    # (fold=0), which lands just after the gap: the absence still starts that day.
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def absence_window(
    start_date: date,
    end_date: date,
    timezone: str,
    policy: AbsencePolicy,
    *,
    start_half_day: bool = False,
    end_half_day: bool = False,
) -> tuple[datetime, datetime]:
    """The UTC instants an absence starts and ends, with ``end_date`` inclusive.

    A half day at the start means away from the policy's split time (the afternoon);
    at the end, back at the split time (the morning away). A one-day absence marked
    half day is the morning. Raises ``ValueError`` when the dates are out of order.
    """
    if end_date < start_date:
        raise ValueError(f"end_date {end_date} is before start_date {start_date}")
    tz = ZoneInfo(timezone)
    split = policy.half_day_split
    single_half = start_date == end_date and (start_half_day or end_half_day)
    starts = _local_instant(start_date, split if start_half_day and not single_half else time(0), tz)
    if end_half_day or single_half:
        ends = _local_instant(end_date, split, tz)
    else:
        ends = _local_instant(end_date + timedelta(days=1), time(0), tz)
    return starts, ends
