from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.rules import add_business_hours, business_hours_between, is_business_day

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
zones = st.sampled_from(["America/New_York", "Europe/Berlin", "Asia/Tokyo"])


def test_thanksgiving_2026_is_not_a_business_day(policy) -> None:
    assert not is_business_day(datetime(2026, 11, 26).date(), policy.calendar)
    assert is_business_day(datetime(2026, 11, 25).date(), policy.calendar)


def test_friday_afternoon_plus_four_hours_lands_on_monday_morning(policy) -> None:
    friday_3pm = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)  # 15:00 in New York
    due = add_business_hours(friday_3pm, 4, "America/New_York", policy.calendar)
    assert due == datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 11:00 EST


def test_counting_skips_the_thanksgiving_holiday(policy) -> None:
    wed_5pm = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    fri_5pm = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert business_hours_between(wed_5pm, fri_5pm, "America/New_York", policy.calendar) == 8


def test_naive_datetimes_and_negative_hours_are_refused(policy) -> None:
    with pytest.raises(ValueError):
        add_business_hours(datetime(2026, 1, 1), 1, "UTC", policy.calendar)
    with pytest.raises(ValueError):
        add_business_hours(datetime(2026, 1, 1, tzinfo=UTC), -1, "UTC", policy.calendar)


@given(start=moments, hours=st.floats(min_value=0, max_value=200, allow_nan=False), zone=zones)
def test_adding_then_measuring_gives_back_the_hours(policy, start, hours, zone) -> None:
    due = add_business_hours(start, hours, zone, policy.calendar)
    assert due >= start
    assert business_hours_between(start, due, zone, policy.calendar) == pytest.approx(hours, abs=1e-6)


@given(start=moments, a=st.floats(0, 100), b=st.floats(0, 100), zone=zones)
def test_more_hours_never_end_earlier(policy, start, a, b, zone) -> None:
    lo, hi = sorted((a, b))
    assert add_business_hours(start, lo, zone, policy.calendar) <= add_business_hours(
        start, hi, zone, policy.calendar
    )


@given(a=moments, b=moments, zone=zones)
def test_business_hours_never_exceed_wall_clock_hours(policy, a, b, zone) -> None:
    hours = business_hours_between(a, b, zone, policy.calendar)
    assert abs(hours) <= abs((b - a) / timedelta(hours=1)) + 1e-9
