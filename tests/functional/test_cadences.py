"""Cadences on the replay clock: each reaction once per period, whatever the schedule
(the policy's, daily ticks, a tick fired twice), a missed period caught up once by the
next tick, and a period that is over never caught up.

The book is examples/book.json: Acme Corp and Globex are Ana Ruiz's, Initech Ben Cho's;
all three are managed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.book import parse_book
from shared.cadences.health_traits import end_of_week
from shared.replay import replay
from tests.gmail_messages import line

ANA, BEN = "ana@example.com", "ben@example.com"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tick(when: datetime, job: str) -> str:
    return line(when, "tick", {"job": job})


def quiet(when: str) -> str:
    body = {"match": {"account": {"id": "vit-initech", "externalId": "initech", "healthScore": 6.5}}}
    return line(at(when), "vitally", body)


@pytest.fixture
def run(book_data, policy):
    book = parse_book(book_data)

    def go(lines: list[str], until: str | None = None, scheduler: bool = True):
        return replay(lines, book, policy, scheduler=scheduler, until=at(until) if until else None)

    return go


def traits(result) -> list[tuple[str, str, str, str]]:
    return sorted(
        (a["idempotency_key"], a["recipients"][0], a["due_date"], a["at"])
        for a in result.actions
        if a.get("cadence") == "health-traits"
    )


EXPECTED = [
    ("health-traits:acme:2026-12", ANA, "2026-12-04", "2026-12-01T09:00:00Z"),
    ("health-traits:acme:2027-01", ANA, "2027-01-08", "2027-01-01T09:00:00Z"),
    ("health-traits:globex:2026-12", ANA, "2026-12-04", "2026-12-01T09:00:00Z"),
    ("health-traits:globex:2027-01", ANA, "2027-01-08", "2027-01-01T09:00:00Z"),
    ("health-traits:initech:2026-12", BEN, "2026-12-04", "2026-12-01T09:00:00Z"),
    ("health-traits:initech:2027-01", BEN, "2027-01-08", "2027-01-01T09:00:00Z"),
]


def test_the_policy_schedule_gives_each_managed_account_one_trait_task_a_month(run) -> None:
    # Ticks on every working day at 09:00; the first of each month's decides it. Tuesday 1
    # December: due Friday the 4th. Friday 1 January is a holiday: the week's last working
    # day has passed, so the next Friday.
    assert traits(run([quiet("2026-12-01T08:00:00")], until="2027-01-20T00:00:00")) == EXPECTED


def test_daily_ticks_with_one_fired_twice_change_nothing(run) -> None:
    days = [at("2026-12-01T09:00:00") + timedelta(days=n) for n in range(50)]
    lines = [quiet("2026-11-30T08:00:00")]
    for day in days:
        lines.append(tick(day, "health-traits"))
        if day.day == 1:
            lines.append(tick(day + timedelta(seconds=20), "health-traits"))
    result = run(lines, scheduler=False)
    assert traits(result) == EXPECTED


def test_a_missed_month_is_not_caught_up_once_it_is_over_and_a_late_tick_catches_up_its_own(run) -> None:
    # No tick in December at all; the first one comes on 5 January.
    result = run(
        [quiet("2026-11-30T08:00:00"), tick(at("2027-01-05T09:00:00"), "health-traits")], scheduler=False
    )
    assert [(k, d) for k, _to, d, _at in traits(result)] == [
        ("health-traits:acme:2027-01", "2027-01-08"),
        ("health-traits:globex:2027-01", "2027-01-08"),
        ("health-traits:initech:2027-01", "2027-01-08"),
    ]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 12, 1), date(2026, 12, 4)),  # Tuesday → Friday
        (date(2026, 12, 4), date(2026, 12, 4)),  # Friday → itself
        (date(2026, 12, 5), date(2026, 12, 11)),  # Saturday → next Friday
        (date(2026, 11, 23), date(2026, 11, 27)),  # Thanksgiving week: Friday still works
        (date(2027, 1, 1), date(2027, 1, 8)),  # New Year's Day, a Friday
    ],
)
def test_end_of_week_is_the_last_working_day_still_ahead(policy, day: date, expected: date) -> None:
    assert end_of_week(day, policy.calendar) == expected
