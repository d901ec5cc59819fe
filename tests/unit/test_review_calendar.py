"""When MBRs and internal QBRs happen, and when their reminders are owed, as truth tables.

The expected dates were worked out apart from the code (from the calendar module's month
grids: the second Monday of a month, and the Monday of the grid's second row), and checked
by hand on a few months: June 2026 starts on a Monday, so both readings agree on the 8th."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.rules.fiscal import (
    fiscal_quarter,
    is_first_week_of_fiscal_quarter,
    is_second_week_of_month,
    mbr_week,
    qbr_week,
    quarter_of_period,
)
from shared.rules.reviews import (
    away_all_week,
    mbr_due,
    mbr_window,
    owed_somewhere,
    qbr_due,
    window,
    working_days_before,
)

# (year, month, day of the second week's Monday by nth_monday, by calendar)
SECOND_WEEKS = [
    (2026, 1, 12, 5), (2026, 2, 9, 2), (2026, 3, 9, 2), (2026, 4, 13, 6),
    (2026, 5, 11, 4), (2026, 6, 8, 8), (2026, 7, 13, 6), (2026, 8, 10, 3),
    (2026, 9, 14, 7), (2026, 10, 12, 5), (2026, 11, 9, 2), (2026, 12, 14, 7),
    (2027, 1, 11, 4), (2027, 2, 8, 8), (2027, 3, 8, 8), (2027, 4, 12, 5),
    (2027, 5, 10, 3), (2027, 6, 14, 7), (2027, 7, 12, 5), (2027, 8, 9, 2),
    (2027, 9, 13, 6), (2027, 10, 11, 4), (2027, 11, 8, 8), (2027, 12, 13, 6),
    (2028, 1, 10, 3), (2028, 2, 14, 7), (2028, 3, 13, 6), (2028, 4, 10, 3),
    (2028, 5, 8, 8), (2028, 6, 12, 5), (2028, 7, 10, 3), (2028, 8, 14, 7),
    (2028, 9, 11, 4), (2028, 10, 9, 2), (2028, 11, 13, 6), (2028, 12, 11, 4),
]  # fmt: skip

# (period, Monday of the QBR week by nth_monday, by calendar)
FIRST_WEEKS_FEBRUARY_START = [
    ("FY2027-Q1", "2026-02-02", "2026-01-26"),
    ("FY2027-Q2", "2026-05-04", "2026-04-27"),
    ("FY2027-Q3", "2026-08-03", "2026-07-27"),
    ("FY2027-Q4", "2026-11-02", "2026-10-26"),
    ("FY2028-Q1", "2027-02-01", "2027-02-01"),
    ("FY2028-Q2", "2027-05-03", "2027-04-26"),
    ("FY2028-Q3", "2027-08-02", "2027-07-26"),
    ("FY2028-Q4", "2027-11-01", "2027-11-01"),
    ("FY2029-Q1", "2028-02-07", "2028-01-31"),
    ("FY2029-Q2", "2028-05-01", "2028-05-01"),
    ("FY2029-Q3", "2028-08-07", "2028-07-31"),
    ("FY2029-Q4", "2028-11-06", "2028-10-30"),
]
FIRST_WEEKS_JANUARY_START = [
    ("FY2026-Q1", "2026-01-05", "2025-12-29"),
    ("FY2026-Q2", "2026-04-06", "2026-03-30"),
    ("FY2026-Q3", "2026-07-06", "2026-06-29"),
    ("FY2026-Q4", "2026-10-05", "2026-09-28"),
    ("FY2027-Q1", "2027-01-04", "2026-12-28"),
    ("FY2027-Q2", "2027-04-05", "2027-03-29"),
    ("FY2027-Q3", "2027-07-05", "2027-06-28"),
    ("FY2027-Q4", "2027-10-04", "2027-09-27"),
    ("FY2028-Q1", "2028-01-03", "2027-12-27"),
    ("FY2028-Q2", "2028-04-03", "2028-03-27"),
    ("FY2028-Q3", "2028-07-03", "2028-06-26"),
    ("FY2028-Q4", "2028-10-02", "2028-09-25"),
]
RULES = ("nth_monday", "calendar")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def calendar(policy):
    def make(**changes):
        return policy.calendar.model_copy(update=changes)

    return make


@pytest.mark.parametrize(("year", "month", "nth_monday", "by_calendar"), SECOND_WEEKS)
@pytest.mark.parametrize("rule", RULES)
def test_the_second_week_of_each_month_of_2026_to_2028(
    calendar, rule, year, month, nth_monday, by_calendar
) -> None:
    cal = calendar(week_rule=rule)
    monday = date(year, month, nth_monday if rule == "nth_monday" else by_calendar)
    assert mbr_week(year, month, cal) == (monday, monday + timedelta(days=6))
    # The reminder of that month is owed on the week's Monday (whatever the time zone),
    # and the week is the one the calendar calls the second.
    period = f"{year}-{month:02d}"
    noon = datetime.combine(monday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
    assert [w.period for w in mbr_due(noon, 3, "UTC", cal)] == [period]
    assert is_second_week_of_month(monday, cal) and is_second_week_of_month(monday + timedelta(days=6), cal)
    assert not is_second_week_of_month(monday - timedelta(days=1), cal)


@pytest.mark.parametrize(
    ("start_month", "table"), [(2, FIRST_WEEKS_FEBRUARY_START), (1, FIRST_WEEKS_JANUARY_START)]
)
@pytest.mark.parametrize("rule", RULES)
def test_the_first_week_of_each_fiscal_quarter(calendar, start_month, table, rule) -> None:
    cal = calendar(fiscal_year_start_month=start_month, week_rule=rule)
    for period, nth_monday, by_calendar in table:
        quarter = quarter_of_period(period, cal)
        assert quarter.period == period and quarter.start.day == 1
        monday = date.fromisoformat(nth_monday if rule == "nth_monday" else by_calendar)
        assert qbr_week(quarter, cal) == (monday, monday + timedelta(days=6)), period
        noon = datetime.combine(monday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
        assert [w.period for w in qbr_due(noon, 5, "UTC", cal)] == [period], period
        assert is_first_week_of_fiscal_quarter(monday, cal)
        assert not is_first_week_of_fiscal_quarter(monday - timedelta(days=1), cal)


def test_a_quarter_period_names_the_quarter_the_fiscal_calendar_gives(calendar) -> None:
    for start_month, named_by in ((2, "end"), (2, "start"), (1, "end"), (7, "end")):
        cal = calendar(fiscal_year_start_month=start_month, fiscal_year_named_by=named_by)
        for offset in range(0, 36):
            day = date(2026 + offset // 12, offset % 12 + 1, 15)
            quarter = fiscal_quarter(day, cal)
            assert quarter_of_period(quarter.period, cal) == quarter
    with pytest.raises(ValueError):
        quarter_of_period("2026-12", calendar())


@pytest.mark.parametrize(
    ("monday", "days", "expected"),
    [
        ("2026-12-14", 3, "2026-12-09"),  # Friday, Thursday, Wednesday
        ("2026-12-28", 3, "2026-12-22"),  # Christmas Day (Friday) is skipped
        ("2027-01-04", 3, "2026-12-29"),  # New Year's Day (Friday) is skipped
        ("2026-11-30", 2, "2026-11-25"),  # Thanksgiving (Thursday 26th) is skipped
        ("2026-12-14", 0, "2026-12-14"),  # 0: the Monday itself
    ],
)
def test_working_days_before_skip_weekends_and_holidays(policy, monday, days, expected) -> None:
    assert working_days_before(date.fromisoformat(monday), days, policy.calendar) == date.fromisoformat(
        expected
    )


# The reminder window in the person's time zone, across the DST changes of 2026: the US
# springs forward on 8 March and falls back on 1 November, the EU on 29 March and 25 October.
@pytest.mark.parametrize(
    ("period", "timezone", "opens", "closes"),
    [
        # March's MBR week is 9-15 March: LA opens on PST, closes on PDT.
        ("2026-03", "America/Los_Angeles", "2026-03-04T08:00:00", "2026-03-16T07:00:00"),
        # Berlin is still on CET all that time.
        ("2026-03", "Europe/Berlin", "2026-03-03T23:00:00", "2026-03-15T23:00:00"),
        # April's week is 13-19 April: both on summer time.
        ("2026-04", "America/Los_Angeles", "2026-04-08T07:00:00", "2026-04-20T07:00:00"),
        ("2026-04", "Europe/Berlin", "2026-04-07T22:00:00", "2026-04-19T22:00:00"),
        # November's week is 9-15 November: both back on standard time.
        ("2026-11", "America/Los_Angeles", "2026-11-04T08:00:00", "2026-11-16T08:00:00"),
        ("2026-11", "Europe/Berlin", "2026-11-03T23:00:00", "2026-11-15T23:00:00"),
    ],
)
def test_mbr_windows_across_dst_open_and_close_at_local_midnight(
    policy, period, timezone, opens, closes
) -> None:
    found = mbr_window(period, 3, timezone, policy.calendar)
    assert (found.opens, found.closes) == (at(opens), at(closes))
    # owed from the first instant to the last, not a second outside
    assert [w.period for w in mbr_due(at(opens), 3, timezone, policy.calendar)] == [period]
    assert mbr_due(at(opens) - timedelta(seconds=1), 3, timezone, policy.calendar) == []
    assert [w.period for w in mbr_due(at(closes) - timedelta(seconds=1), 3, timezone, policy.calendar)] == [
        period
    ]
    assert mbr_due(at(closes), 3, timezone, policy.calendar) == []


def test_the_same_instant_is_owed_in_berlin_and_not_yet_in_los_angeles(policy) -> None:
    # 22:30 UTC on 7 April 2026: already the 8th in Berlin (CEST), still the 7th in LA (PDT).
    moment = at("2026-04-07T22:30:00")
    assert [w.period for w in mbr_due(moment, 3, "Europe/Berlin", policy.calendar)] == ["2026-04"]
    assert mbr_due(moment, 3, "America/Los_Angeles", policy.calendar) == []


def test_the_qbr_window_of_november_2026_opens_between_the_two_dst_changes(policy) -> None:
    # FY2027 Q4 starts Sunday 1 November; its QBR week is 2-8 November. Five working days
    # before its Monday is Monday 26 October: Berlin is on CET again, New York still on EDT.
    [berlin] = qbr_due(at("2026-10-25T23:00:00"), 5, "Europe/Berlin", policy.calendar)
    [new_york] = qbr_due(at("2026-10-26T04:00:00"), 5, "America/New_York", policy.calendar)
    assert berlin.period == new_york.period == "FY2027-Q4"
    assert (berlin.opens, berlin.closes) == (at("2026-10-25T23:00:00"), at("2026-11-08T23:00:00"))
    assert (new_york.opens, new_york.closes) == (at("2026-10-26T04:00:00"), at("2026-11-09T05:00:00"))
    assert qbr_due(at("2026-10-26T03:59:59"), 5, "America/New_York", policy.calendar) == []


def test_windows_that_overlap_are_both_owed(policy) -> None:
    # Twenty working days before December's MBR week reaches back into November's.
    moment = at("2026-11-13T12:00:00")
    assert [w.period for w in mbr_due(moment, 20, "UTC", policy.calendar)] == ["2026-11", "2026-12"]


def _absence(start: str, end: str, status: str = "APPROVED") -> dict[str, str]:
    return {"starts_at": start, "ends_at": end, "status": status}


WEEK = (date(2026, 12, 14), date(2026, 12, 20))


@pytest.mark.parametrize(
    ("absences", "away"),
    [
        # the whole week in one absence (Berlin midnight to midnight)
        ([_absence("2026-12-13T23:00:00+00:00", "2026-12-18T23:00:00+00:00")], True),
        # the same week in two absences that meet
        (
            [
                _absence("2026-12-13T23:00:00+00:00", "2026-12-16T23:00:00+00:00"),
                _absence("2026-12-16T23:00:00+00:00", "2026-12-18T23:00:00+00:00", "REQUESTED"),
            ],
            True,
        ),
        # back on Friday
        ([_absence("2026-12-13T23:00:00+00:00", "2026-12-17T23:00:00+00:00")], False),
        # away from Friday midday only: the morning is there to meet
        (
            [
                _absence("2026-12-13T23:00:00+00:00", "2026-12-17T23:00:00+00:00"),
                _absence("2026-12-18T11:00:00+00:00", "2026-12-18T23:00:00+00:00"),
            ],
            False,
        ),
        # a cancelled absence does not count
        ([_absence("2026-12-13T23:00:00+00:00", "2026-12-18T23:00:00+00:00", "CANCELED")], False),
        ([], False),
    ],
)
def test_away_for_the_whole_mbr_week(policy, absences, away) -> None:
    assert away_all_week(absences, WEEK, "Europe/Berlin", policy.calendar) is away


def test_a_holiday_in_the_week_need_not_be_covered(policy) -> None:
    # Thanksgiving week 2026: away Monday to Wednesday and Friday; Thursday is a holiday.
    week = (date(2026, 11, 23), date(2026, 11, 29))
    absences = [
        _absence("2026-11-23T05:00:00+00:00", "2026-11-26T05:00:00+00:00"),
        _absence("2026-11-27T05:00:00+00:00", "2026-11-28T05:00:00+00:00"),
    ]
    assert away_all_week(absences, week, "America/New_York", policy.calendar)


def test_a_window_is_its_week_and_the_days_before_it(policy) -> None:
    found = window("x", WEEK, 3, "UTC", policy.calendar)
    assert found.data() == {"week_start": "2026-12-14", "week_end": "2026-12-20"}
    assert found.opens == at("2026-12-09T00:00:00")


# Zones at the edges of the world's clocks, and on half and quarter hours.
EDGE_ZONES = (
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "Asia/Kathmandu",  # UTC+5:45
    "America/St_Johns",  # UTC-3:30 / -2:30
    "Europe/Berlin",
    "America/Los_Angeles",
)


@pytest.mark.parametrize(("owed", "days"), [(mbr_due, 3), (qbr_due, 5)])
def test_a_reminder_owed_in_any_time_zone_is_seen_as_owed_somewhere(policy, owed, days) -> None:
    # Every 45 minutes over four months: each window's openings and closings in every zone.
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    seen = 0
    while moment < datetime(2027, 3, 1, tzinfo=UTC):
        anywhere = owed_somewhere(owed, moment, days, policy.calendar)
        for zone in EDGE_ZONES:
            if owed(moment, days, zone, policy.calendar):
                seen += 1
                assert anywhere, f"{owed.__name__} owed in {zone} at {moment}, not seen"
        moment += timedelta(minutes=45)
    assert seen  # the span holds windows
    # And outside every window it says so: mid-month, no MBR reminder is owed anywhere.
    assert not owed_somewhere(mbr_due, datetime(2026, 12, 29, 12, tzinfo=UTC), 3, policy.calendar)
