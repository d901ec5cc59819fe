from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.rules.cron import fire_times, parse, previous_fire

NEW_YORK = "America/New_York"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_every_fifteen_minutes_fires_on_the_quarter_hours() -> None:
    fires = fire_times("*/15 * * * *", "UTC", utc(2026, 11, 17, 10, 0), utc(2026, 11, 17, 11, 0))
    assert fires == [
        utc(2026, 11, 17, 10, 15),
        utc(2026, 11, 17, 10, 30),
        utc(2026, 11, 17, 10, 45),
        utc(2026, 11, 17, 11, 0),
    ]


def test_every_five_minutes_fires_288_times_a_day() -> None:
    fires = fire_times("*/5 * * * *", "UTC", utc(2026, 11, 17), utc(2026, 11, 18))
    assert len(fires) == 288
    assert fires[0] == utc(2026, 11, 17, 0, 5)
    assert all(b - a == timedelta(minutes=5) for a, b in pairwise(fires))


def test_every_fifteen_minutes_over_a_hundred_days_lists_every_quarter_hour() -> None:
    start = utc(2026, 1, 1)
    fires = fire_times("*/15 * * * *", "UTC", start, start + timedelta(days=100))
    assert len(fires) == 100 * 96
    assert fires[-1] == start + timedelta(days=100)


def test_monday_nine_in_new_york_moves_an_hour_in_utc_when_daylight_saving_ends() -> None:
    fires = fire_times("0 9 * * 1", NEW_YORK, utc(2026, 10, 20), utc(2026, 11, 10))
    assert fires == [utc(2026, 10, 26, 13), utc(2026, 11, 2, 14), utc(2026, 11, 9, 14)]


def test_monday_nine_in_new_york_moves_an_hour_in_utc_when_daylight_saving_starts() -> None:
    fires = fire_times("0 9 * * 1", NEW_YORK, utc(2026, 3, 1), utc(2026, 3, 10))
    assert fires == [utc(2026, 3, 2, 14), utc(2026, 3, 9, 13)]


def test_quarterly_call_offer_fires_on_the_first_of_february_may_august_and_november() -> None:
    fires = fire_times("0 9 1 2,5,8,11 *", "UTC", utc(2026, 1, 1), utc(2027, 1, 1))
    assert fires == [utc(2026, 2, 1, 9), utc(2026, 5, 1, 9), utc(2026, 8, 1, 9), utc(2026, 11, 1, 9)]


def test_weekday_range_fires_monday_to_friday_only() -> None:
    fires = fire_times("0 9 * * 1-5", "UTC", utc(2026, 11, 15), utc(2026, 11, 22))  # Sun to Sun
    assert [f.day for f in fires] == [16, 17, 18, 19, 20]


def test_minute_and_hour_lists_and_ranges_combine() -> None:
    fires = fire_times("0,30 8-9 * * *", "UTC", utc(2026, 11, 17), utc(2026, 11, 17, 23))
    assert fires == [
        utc(2026, 11, 17, 8),
        utc(2026, 11, 17, 8, 30),
        utc(2026, 11, 17, 9),
        utc(2026, 11, 17, 9, 30),
    ]


def test_restricted_day_of_month_and_day_of_week_fire_when_either_matches() -> None:
    # The 13th of December 2026 is a Sunday: it fires on it and on every Friday.
    fires = fire_times("0 9 13 * 5", "UTC", utc(2026, 12, 1), utc(2027, 1, 1))
    assert [f.day for f in fires] == [4, 11, 13, 18, 25]


def test_stepped_day_of_month_starting_with_star_still_needs_the_weekday_too() -> None:
    # Vixie cron: "*/2" counts as unrestricted, so both fields must match (odd-dated Mondays).
    fires = fire_times("0 9 */2 * 1", "UTC", utc(2026, 11, 1), utc(2026, 12, 1))
    assert [f.day for f in fires] == [9, 23]


def test_day_of_week_seven_is_sunday() -> None:
    assert parse("0 9 * * 7").days_of_week == parse("0 9 * * 0").days_of_week == frozenset({0})
    fires = fire_times("0 9 * * 5-7", "UTC", utc(2026, 11, 16), utc(2026, 11, 23))
    assert [f.strftime("%a") for f in fires] == ["Fri", "Sat", "Sun"]


def test_a_start_value_with_a_step_runs_to_the_end_of_the_field() -> None:
    assert parse("10/20 * * * *").minutes == frozenset({10, 30, 50})


def test_previous_fire_at_exactly_a_fire_time_returns_that_time() -> None:
    monday_nine = utc(2026, 11, 16, 9)
    assert previous_fire("0 9 * * 1", "UTC", monday_nine) == monday_nine


def test_previous_fire_just_before_a_fire_time_returns_the_one_before() -> None:
    assert previous_fire("0 9 * * 1", "UTC", utc(2026, 11, 16, 8, 59)) == utc(2026, 11, 9, 9)


def test_previous_fire_ignores_seconds_past_the_minute() -> None:
    assert previous_fire("*/5 * * * *", "UTC", utc(2026, 11, 16, 9, 7, 59)) == utc(2026, 11, 16, 9, 5)


def test_previous_fire_finds_a_yearly_schedule_within_400_days() -> None:
    assert previous_fire("0 0 29 2 *", "UTC", utc(2025, 3, 1)) == utc(2024, 2, 29)


def test_previous_fire_is_none_when_nothing_fired_in_the_last_400_days() -> None:
    assert previous_fire("0 0 29 2 *", "UTC", utc(2026, 1, 1)) is None
    assert previous_fire("0 0 30 2 *", "UTC", utc(2026, 1, 1)) is None


def test_fire_times_excludes_start_and_includes_end() -> None:
    fires = fire_times("0 9 * * *", "UTC", utc(2026, 11, 16, 9), utc(2026, 11, 18, 9))
    assert fires == [utc(2026, 11, 17, 9), utc(2026, 11, 18, 9)]


def test_fire_times_is_empty_when_end_is_not_after_start() -> None:
    assert fire_times("* * * * *", "UTC", utc(2026, 11, 16, 9), utc(2026, 11, 16, 9)) == []


def test_a_wall_time_skipped_by_spring_forward_does_not_fire_that_day() -> None:
    fires = fire_times("30 2 * * *", NEW_YORK, utc(2026, 3, 7), utc(2026, 3, 10))
    assert fires == [utc(2026, 3, 7, 7, 30), utc(2026, 3, 9, 6, 30)]


def test_a_wall_time_repeated_by_fall_back_fires_once_at_its_first_occurrence() -> None:
    fires = fire_times("30 1 * * *", NEW_YORK, utc(2026, 11, 1), utc(2026, 11, 2))
    assert fires == [utc(2026, 11, 1, 5, 30)]  # 01:30 EDT, not 01:30 EST an hour later
    quarter_hours = fire_times("*/15 1 * * *", NEW_YORK, utc(2026, 11, 1), utc(2026, 11, 2))
    assert len(quarter_hours) == 4


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 24 * * *", "hour: 24 is out of range 0-23"),
        ("60 * * * *", "minute: 60 is out of range 0-59"),
        ("0 9 0 * *", "day-of-month: 0 is out of range 1-31"),
        ("0 9 * 13 *", "month: 13 is out of range 1-12"),
        ("0 9 * * 8", "day-of-week: 8 is out of range 0-7"),
        ("*/0 * * * *", "minute: step"),
        ("0 9 * * 5-1", "day-of-week: range 5-1 runs backwards"),
        ("0 9 * JAN *", "month: 'JAN' is not a number"),
        ("0 9 1,,2 * *", "day-of-month: empty list item"),
        ("0 9 * *", "expected five fields"),
    ],
)
def test_a_bad_expression_is_refused_naming_the_field(expr: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(expr)


def test_a_parsed_schedule_is_cached_and_hashable() -> None:
    schedule = parse("0 9 * * 1-5")
    assert parse("0 9 * * 1-5") is schedule
    assert {schedule: "weekdays"}[parse("0  9 * * 1-5")] == "weekdays"


def test_naive_moments_and_unknown_time_zones_are_refused() -> None:
    with pytest.raises(ValueError):
        previous_fire("0 9 * * *", "UTC", datetime(2026, 11, 16, 9))
    with pytest.raises(ValueError, match="time_zone"):
        fire_times("0 9 * * *", "Mars/Olympus", utc(2026, 11, 16), utc(2026, 11, 17))


# A minute-by-minute oracle over short windows around DST changes: the day-by-day
# evaluation must agree with it, including the skipped and repeated hours.
EXPRESSIONS = [
    "*/15 * * * *",
    "30 1 * * *",
    "30 2 * * *",
    "0 9 * * 1-5",
    "*/7 1-3 * * 0",
    "0 0 1,15 * 0",
    "0 23 * * *",
]
# Each zone with one of its 2026 changes: both directions, a 30-minute one, one at midnight.
CHANGES = [
    ("America/New_York", utc(2026, 3, 8, 7)),
    ("America/New_York", utc(2026, 11, 1, 6)),
    ("Europe/Berlin", utc(2026, 3, 29, 1)),
    ("Europe/Berlin", utc(2026, 10, 25, 1)),
    ("Australia/Lord_Howe", utc(2026, 4, 4, 15)),
    ("America/Santiago", utc(2026, 4, 5, 3)),
    ("America/Santiago", utc(2026, 9, 6, 4)),
    ("UTC", utc(2026, 3, 8, 7)),
]


def _oracle(expr: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    schedule, tz = parse(expr), ZoneInfo(zone)
    out, minute = [], start.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while minute <= end:
        local = minute.astimezone(tz)
        if (
            local.fold == 0
            and schedule.matches_day(local.date())
            and local.hour in schedule.hours
            and local.minute in schedule.minutes
        ):
            out.append(minute)
        minute += timedelta(minutes=1)
    return out


@settings(max_examples=60, deadline=None)
@given(
    expr=st.sampled_from(EXPRESSIONS),
    change=st.sampled_from(CHANGES),
    offset_minutes=st.integers(-30 * 60, 0),
    span_minutes=st.integers(0, 48 * 60),
)
def test_fire_times_agree_with_a_minute_by_minute_check(expr, change, offset_minutes, span_minutes) -> None:
    zone, around = change
    start = around + timedelta(minutes=offset_minutes, seconds=17)
    end = start + timedelta(minutes=span_minutes)
    fires = fire_times(expr, zone, start, end)
    assert fires == _oracle(expr, zone, start, end)
    expected_previous = fires[-1] if fires else previous_fire(expr, zone, start)
    assert previous_fire(expr, zone, end) == expected_previous
