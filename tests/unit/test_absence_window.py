from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.rules import absence_window

ZONES = [
    "Europe/Berlin",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Sao_Paulo",
    "UTC",
]


def test_a_week_off_in_berlin_runs_from_local_midnight_to_the_midnight_after_the_last_day(policy) -> None:
    start, end = absence_window(date(2026, 12, 14), date(2026, 12, 18), "Europe/Berlin", policy.absence)
    assert start == datetime(2026, 12, 13, 23, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 18, 23, 0, tzinfo=UTC)


def test_half_days_start_and_end_at_the_split(policy) -> None:
    start, end = absence_window(
        date(2026, 7, 1),
        date(2026, 7, 3),
        "America/Los_Angeles",
        policy.absence,
        start_half_day=True,
        end_half_day=True,
    )
    assert start == datetime(2026, 7, 1, 19, 0, tzinfo=UTC)  # 12:00 PDT
    assert end == datetime(2026, 7, 3, 19, 0, tzinfo=UTC)


def test_a_single_half_day_is_the_morning(policy) -> None:
    start, end = absence_window(
        date(2026, 7, 1), date(2026, 7, 1), "UTC", policy.absence, start_half_day=True
    )
    assert (start.hour, end.hour, end - start) == (0, 12, timedelta(hours=12))


def test_an_absence_over_the_spring_dst_change_is_an_hour_short(policy) -> None:
    start, end = absence_window(date(2026, 3, 28), date(2026, 3, 29), "Europe/Berlin", policy.absence)
    assert end - start == timedelta(hours=47)


def test_dates_out_of_order_are_refused(policy) -> None:
    with pytest.raises(ValueError, match="before start_date"):
        absence_window(date(2026, 3, 2), date(2026, 3, 1), "UTC", policy.absence)


@given(
    start=st.dates(min_value=date(1995, 1, 1), max_value=date(2099, 12, 1)),
    length=st.integers(0, 40),
    zone=st.sampled_from(ZONES),
    start_half=st.booleans(),
    end_half=st.booleans(),
)
def test_window_is_ordered_local_and_as_long_as_its_days(
    policy, start, length, zone, start_half, end_half
) -> None:
    end_date = start + timedelta(days=length)
    starts, ends = absence_window(
        start, end_date, zone, policy.absence, start_half_day=start_half, end_half_day=end_half
    )
    assert starts < ends
    local_start = starts.astimezone(ZoneInfo(zone))
    assert local_start.date() == start
    nominal = timedelta(days=length + 1)
    if length == 0 and (start_half or end_half):
        nominal = timedelta(hours=12)
    else:
        nominal -= timedelta(hours=12) * (int(start_half) + int(end_half))
    # DST changes inside the window move it by at most an hour each way (a few zones
    # changed their offset by more in their history; these zones did not after 1995).
    assert abs((ends - starts) - nominal) <= timedelta(hours=1)
