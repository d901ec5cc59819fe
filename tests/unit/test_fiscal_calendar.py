from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.rules import (
    fiscal_quarter,
    is_first_week_of_fiscal_quarter,
    is_second_week_of_month,
    nth_week_of_month,
)

days = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31))


@pytest.mark.parametrize(
    ("day", "label", "start", "end"),
    [
        (date(2026, 2, 1), "FY2027 Q1", date(2026, 2, 1), date(2026, 5, 1)),
        (date(2026, 11, 22), "FY2027 Q4", date(2026, 11, 1), date(2027, 2, 1)),
        (date(2027, 1, 31), "FY2027 Q4", date(2026, 11, 1), date(2027, 2, 1)),
        (date(2024, 2, 29), "FY2025 Q1", date(2024, 2, 1), date(2024, 5, 1)),
    ],
)
def test_fiscal_quarter_with_a_february_year_start(policy, day, label, start, end) -> None:
    q = fiscal_quarter(day, policy.calendar)
    assert (q.label, q.start, q.end) == (label, start, end)


@given(day=days, start_month=st.integers(1, 12))
def test_a_fiscal_quarter_holds_its_day_and_spans_three_months(policy, day: date, start_month: int) -> None:
    cal = policy.calendar.model_copy(update={"fiscal_year_start_month": start_month})
    q = fiscal_quarter(day, cal)
    assert day in q
    assert q.start.day == 1 and q.end.day == 1
    assert (q.end.year * 12 + q.end.month) - (q.start.year * 12 + q.start.month) == 3
    assert (q.start.month - start_month) % 3 == 0
    # the day before a quarter starts belongs to the previous quarter, across year ends too
    prev = fiscal_quarter(q.start - timedelta(days=1), cal)
    assert prev.end == q.start
    assert prev.quarter == (q.quarter - 2) % 4 + 1


@given(day=days)
def test_the_fiscal_year_changes_only_at_q1(policy, day: date) -> None:
    today = fiscal_quarter(day, policy.calendar)
    tomorrow = fiscal_quarter(day + timedelta(days=1), policy.calendar)
    if tomorrow.fiscal_year != today.fiscal_year:
        assert tomorrow.quarter == 1 and tomorrow.fiscal_year == today.fiscal_year + 1


def test_second_week_of_november_2026_is_the_9th_to_the_15th(policy) -> None:
    assert nth_week_of_month(2, 2026, 11, "nth_monday") == (date(2026, 11, 9), date(2026, 11, 15))
    assert nth_week_of_month(2, 2026, 11, "calendar") == (date(2026, 11, 2), date(2026, 11, 8))
    assert is_second_week_of_month(date(2026, 11, 9), policy.calendar)
    assert not is_second_week_of_month(date(2026, 11, 8), policy.calendar)


@given(
    year=st.integers(1990, 2100), month=st.integers(1, 12), rule=st.sampled_from(["nth_monday", "calendar"])
)
def test_the_second_week_is_a_monday_to_sunday_week_overlapping_the_month(year, month, rule) -> None:
    monday, sunday = nth_week_of_month(2, year, month, rule)
    assert monday.weekday() == 0 and sunday - monday == timedelta(days=6)
    assert monday.month == month  # a second week always starts inside its month
    first_monday, _ = nth_week_of_month(1, year, month, rule)
    assert monday - first_monday == timedelta(days=7)


@given(day=days)
def test_exactly_one_qbr_week_per_fiscal_quarter(policy, day: date) -> None:
    q = fiscal_quarter(day, policy.calendar)
    qbr_days = [
        q.start + timedelta(days=i)
        for i in range(-7, 14)
        if is_first_week_of_fiscal_quarter(q.start + timedelta(days=i), policy.calendar)
    ]
    assert len(qbr_days) == 7
    assert qbr_days[0].weekday() == 0
    assert qbr_days[0] >= q.start  # nth_monday: the week starts on the quarter's first Monday


def test_first_week_of_fq4_fy2027_starts_monday_2_november_2026(policy) -> None:
    assert is_first_week_of_fiscal_quarter(date(2026, 11, 2), policy.calendar)
    assert is_first_week_of_fiscal_quarter(date(2026, 11, 8), policy.calendar)
    assert not is_first_week_of_fiscal_quarter(date(2026, 11, 1), policy.calendar)
    assert not is_first_week_of_fiscal_quarter(date(2026, 11, 9), policy.calendar)
