from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.rules import add_business_hours, business_hours_between, is_business_day
from shared.rules.business_hours import (
    add_working_day_hours,
    clock_add,
    clock_hours_between,
    next_working_time,
    working_day_hours_between,
)

moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
zones = st.sampled_from(["America/New_York", "Europe/Berlin", "Asia/Tokyo"])
clocks = st.sampled_from(["calendar", "working_days", "business_hours"])
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(BERLIN))


def new_york(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(NEW_YORK))


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


# next_working_time: when a message meant for working hours can go out.


def test_friday_evening_in_berlin_waits_for_monday_morning(policy) -> None:
    assert next_working_time(berlin(2026, 11, 20, 18), BERLIN, policy.calendar) == berlin(2026, 11, 23, 9)


def test_saturday_waits_for_monday_morning(policy) -> None:
    assert next_working_time(berlin(2026, 11, 21, 11, 30), BERLIN, policy.calendar) == berlin(2026, 11, 23, 9)


def test_before_opening_on_a_working_day_waits_for_that_mornings_opening(policy) -> None:
    assert next_working_time(berlin(2026, 11, 17, 8), BERLIN, policy.calendar) == berlin(2026, 11, 17, 9)


def test_closing_time_itself_is_outside_business_hours(policy) -> None:
    assert next_working_time(berlin(2026, 11, 17, 17), BERLIN, policy.calendar) == berlin(2026, 11, 18, 9)


def test_inside_business_hours_the_moment_is_unchanged(policy) -> None:
    at = berlin(2026, 11, 17, 10, 15)
    assert next_working_time(at, BERLIN, policy.calendar) == at


def test_thanksgiving_is_skipped_to_the_next_working_day(policy) -> None:
    wednesday_evening = new_york(2026, 11, 25, 18)
    assert next_working_time(wednesday_evening, NEW_YORK, policy.calendar) == new_york(2026, 11, 27, 9)


def test_christmas_on_a_friday_is_skipped_to_monday(policy) -> None:
    christmas_eve_evening = new_york(2026, 12, 24, 17, 30)
    assert next_working_time(christmas_eve_evening, NEW_YORK, policy.calendar) == new_york(2026, 12, 28, 9)


@given(at=moments, zone=zones)
def test_next_working_time_is_the_first_business_moment_from_then(policy, at, zone) -> None:
    opening = next_working_time(at, zone, policy.calendar)
    assert opening >= at
    assert business_hours_between(at, opening, zone, policy.calendar) == 0
    assert next_working_time(opening, zone, policy.calendar) == opening


# The working-days clock: every hour of a working day counts, none of a weekend or holiday.


def test_48_working_day_hours_from_tuesday_morning_end_thursday_morning(policy) -> None:
    due = add_working_day_hours(berlin(2026, 11, 17, 10), 48, BERLIN, policy.calendar)
    assert due == berlin(2026, 11, 19, 10)


def test_48_working_day_hours_from_friday_afternoon_skip_the_weekend(policy) -> None:
    due = add_working_day_hours(berlin(2026, 11, 20, 15), 48, BERLIN, policy.calendar)
    assert due == berlin(2026, 11, 24, 15)


def test_a_holiday_monday_is_skipped_too(policy) -> None:
    # Memorial Day, Monday 25 May 2026: the default policy's holidays are the US's.
    due = add_working_day_hours(berlin(2026, 5, 22, 15), 48, BERLIN, policy.calendar)
    assert due == berlin(2026, 5, 27, 15)


def test_a_start_on_saturday_counts_from_monday_midnight(policy) -> None:
    due = add_working_day_hours(berlin(2026, 11, 21, 10), 10, BERLIN, policy.calendar)
    assert due == berlin(2026, 11, 23, 10)


def test_working_day_hours_over_a_weekend_count_only_friday_and_monday(policy) -> None:
    hours = working_day_hours_between(
        berlin(2026, 11, 20, 12), berlin(2026, 11, 23, 12), BERLIN, policy.calendar
    )
    assert hours == 24


def test_working_day_hours_are_negative_when_the_end_is_earlier(policy) -> None:
    hours = working_day_hours_between(
        berlin(2026, 11, 24, 15), berlin(2026, 11, 20, 15), BERLIN, policy.calendar
    )
    assert hours == -48


def test_working_day_clock_refuses_naive_datetimes_and_negative_hours(policy) -> None:
    with pytest.raises(ValueError):
        add_working_day_hours(datetime(2026, 1, 1), 1, "UTC", policy.calendar)
    with pytest.raises(ValueError):
        add_working_day_hours(datetime(2026, 1, 1, tzinfo=UTC), -1, "UTC", policy.calendar)
    with pytest.raises(ValueError):
        working_day_hours_between(
            datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC), "UTC", policy.calendar
        )


def test_a_calendar_without_working_days_is_refused_instead_of_searching_forever(policy) -> None:
    # model_copy skips validation: the only way to get a calendar the policy would refuse.
    no_days = policy.calendar.model_copy(update={"working_days": []})
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="working_days"):
        next_working_time(start, "UTC", no_days)
    with pytest.raises(ValueError, match="working_days"):
        add_working_day_hours(start, 1, "UTC", no_days)


@given(start=moments, hours=st.floats(min_value=0, max_value=500, allow_nan=False), zone=zones)
def test_adding_then_measuring_working_day_hours_gives_back_the_hours(policy, start, hours, zone) -> None:
    due = add_working_day_hours(start, hours, zone, policy.calendar)
    assert due >= start
    assert working_day_hours_between(start, due, zone, policy.calendar) == pytest.approx(hours, abs=1e-6)


@given(
    a=moments, span=st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=400)), zone=zones
)
def test_working_day_hours_lie_between_business_hours_and_wall_clock_hours(policy, a, span, zone) -> None:
    b = a + span
    hours = abs(working_day_hours_between(a, b, zone, policy.calendar))
    assert abs(business_hours_between(a, b, zone, policy.calendar)) <= hours + 1e-9
    assert hours <= abs((b - a) / timedelta(hours=1)) + 1e-9


# The dispatcher the SLA uses: one clock chosen by name.


def test_each_clock_measures_friday_to_tuesday_its_own_way(policy) -> None:
    friday, tuesday = berlin(2026, 11, 20, 15), berlin(2026, 11, 24, 15)
    measured = {
        clock: clock_hours_between(friday, tuesday, clock, BERLIN, policy.calendar)
        for clock in ("calendar", "working_days", "business_hours")
    }
    assert measured == {"calendar": 96, "working_days": 48, "business_hours": 2 + 8 + 6}


def test_each_clock_adds_48_hours_from_friday_afternoon_its_own_way(policy) -> None:
    friday = berlin(2026, 11, 20, 15)
    assert clock_add(friday, 48, "calendar", BERLIN, policy.calendar) == berlin(2026, 11, 22, 15)
    assert clock_add(friday, 48, "working_days", BERLIN, policy.calendar) == berlin(2026, 11, 24, 15)
    assert clock_add(friday, 16, "business_hours", BERLIN, policy.calendar) == berlin(2026, 11, 24, 15)


def test_an_unknown_clock_is_refused(policy) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="unknown clock 'wall'"):
        clock_add(at, 1, "wall", "UTC", policy.calendar)
    with pytest.raises(ValueError, match="unknown clock 'wall'"):
        clock_hours_between(at, at, "wall", "UTC", policy.calendar)


def test_the_calendar_clock_refuses_naive_datetimes_and_negative_hours(policy) -> None:
    with pytest.raises(ValueError):
        clock_add(datetime(2026, 1, 1), 1, "calendar", "UTC", policy.calendar)
    with pytest.raises(ValueError):
        clock_add(datetime(2026, 1, 1, tzinfo=UTC), -1, "calendar", "UTC", policy.calendar)


@given(start=moments, hours=st.floats(min_value=0, max_value=200, allow_nan=False), clock=clocks, zone=zones)
def test_every_clock_measures_back_what_it_added(policy, start, hours, clock, zone) -> None:
    due = clock_add(start, hours, clock, zone, policy.calendar)
    assert clock_hours_between(start, due, clock, zone, policy.calendar) == pytest.approx(hours, abs=1e-6)


def test_the_last_working_time_before_a_night_is_the_evening_before(policy) -> None:
    from shared.rules.business_hours import last_working_time

    wednesday_23_berlin = datetime(2026, 12, 16, 22, 0, tzinfo=UTC)
    assert last_working_time(wednesday_23_berlin, "Europe/Berlin", policy.calendar) == datetime(
        2026, 12, 16, 15, 0, tzinfo=UTC
    )  # 16:00 in Berlin: the last working hour
    inside = datetime(2026, 12, 16, 10, 0, tzinfo=UTC)
    assert last_working_time(inside, "Europe/Berlin", policy.calendar) == inside
    monday_early = datetime(2026, 12, 14, 6, 0, tzinfo=UTC)  # 07:00 Monday: Friday evening
    assert last_working_time(monday_early, "Europe/Berlin", policy.calendar) == datetime(
        2026, 12, 11, 15, 0, tzinfo=UTC
    )
