"""Coverage plans follow the world (design §5), through the handlers that see the world
change: a Salesforce renewal moving into (or out of) a TA's absence, and an account
entering Lighthouse during one, re-draw the plan on that event and tell just the change.

The book is examples/book.json, with Initech (Ben Cho's, no renewal date) known to
Salesforce. Ben is away 14-18 December 2026; Ana Ruiz is his coverage peer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.book import parse_book
from shared.replay import replay
from tests.functional.test_health import ping, time_off
from tests.functional.test_renewal_process import renewal_moved
from tests.gmail_messages import line

ANA, BEN, ALEX, MARA = "ana@example.com", "ben@example.com", "alex@example.com", "mara@example.com"
BEN_AWAY = time_off(BEN, "Ben Cho", date(2026, 12, 14), date(2026, 12, 18), "pto-ben", "2026-12-01T09:00:00")


@pytest.fixture
def run(book_data, policy):
    for account in book_data["accounts"]:
        if account["id"] == "initech":
            account["salesforce_id"] = "001INIT"
    book = parse_book(book_data)
    return lambda lines: replay(lines, book, policy)


def plan_items(result) -> list[tuple[str, list[str], str]]:
    items = result.state["coverage_plans"]["pto-ben"]["items"]
    return [(i["account_id"], i["reasons"], i["cover"]) for i in items]


def ooo(step) -> list[tuple[str, str]]:
    return sorted(
        (a["idempotency_key"].split(":")[2], a["recipients"][0])
        for a in step.actions
        if a["idempotency_key"].startswith("ooo:") and a["kind"] == "slack.message"
    )


def test_a_renewal_moved_into_the_absence_joins_the_plan_on_the_renewal_event(run) -> None:
    result = run([BEN_AWAY, renewal_moved("2026-12-02T10:00:00", "001INIT", "2026-12-16", 5)])
    assert plan_items(result) == [("initech", ["renewing"], ANA)]
    moved = result.steps[1]
    # The TA and the manager see the changed plan; the new cover and the AE their part.
    assert ooo(moved) == [("cover", ANA), ("plan", BEN), ("plan", MARA), ("team", ALEX)]
    ta = next(a for a in moved.actions if a["idempotency_key"].startswith("ooo:pto-ben:plan:"))
    assert ta["reason"] == "Ben Cho's coverage plan changed: Initech's renewal moved from unset to 2026-12-16"
    task = next(a for a in moved.actions if ":renewal-task:" in a["idempotency_key"])
    assert task["recipients"] == [BEN] and task["account_id"] == "initech"


def test_a_renewal_moved_out_again_leaves_the_plan_and_only_that_is_told(run) -> None:
    result = run(
        [
            BEN_AWAY,
            renewal_moved("2026-12-02T10:00:00", "001INIT", "2026-12-16", 5),
            renewal_moved("2026-12-03T10:00:00", "001INIT", "2027-03-01", 6),
        ]
    )
    assert plan_items(result) == []
    out = result.steps[2]
    assert any("Initech no longer needs cover" in n for n in out.notes)
    # Only the cover hears of it: they no longer have accounts in the plan.
    told = [(a["recipients"], a["reason"]) for a in out.actions if a["idempotency_key"].startswith("ooo:")]
    assert told == [([ANA], "Ben Cho's coverage plan changed: you no longer have accounts in it")]


def test_an_account_entering_lighthouse_during_the_absence_joins_the_plan(run) -> None:
    result = run(
        [BEN_AWAY, ping("2026-12-15T10:00:00", "initech", 3.0), ping("2026-12-15T12:30:00", "initech", 3.0)]
    )
    assert plan_items(result) == [("initech", ["lighthouse"], ANA)]
    entered = result.steps[2]
    # Ben is away: what is meant for him goes to Ana, his coverage peer, and says so.
    assert ooo(entered) == [("cover", ANA), ("plan", ANA), ("plan", MARA), ("team", ALEX)]
    ben_told = next(
        a for a in entered.actions if a["idempotency_key"].endswith(f":plan:shared:{_digest(entered)}:{BEN}")
    )
    assert (
        ben_told["recipients"] == [ANA] and "for Ben Cho, who is out until 2026-12-18" in ben_told["reason"]
    )
    assert ben_told["reason"].startswith(
        "Ben Cho's coverage plan changed: Initech entered the Lighthouse program"
    )


def _digest(step) -> str:
    key = next(
        a["idempotency_key"] for a in step.actions if a["idempotency_key"].startswith("ooo:pto-ben:plan:")
    )
    return key.split(":")[4]


def test_a_ta_with_many_absences_booked_has_the_soonest_re_drawn_at_once_and_the_rest_at_the_next_tick(
    run,
) -> None:
    # Ben has 23 absences booked, one each week from mid-December: Initech entering
    # Lighthouse joins every plan. One commit re-draws the 20 soonest; each of the other
    # three is re-drawn in a transaction of its own at the next health-check tick.
    weeks = 23
    booked = [
        time_off(BEN, "Ben Cho", first, first, f"pto-ben-{n:02d}", f"2026-12-01T09:{n:02d}:00")
        for n in range(weeks)
        for first in [date(2026, 12, 14) + timedelta(weeks=n)]
    ]
    entered = [ping("2026-12-02T10:00:00", "initech", 3.0), ping("2026-12-02T12:30:00", "initech", 3.0)]
    before_tick = run([*booked, *entered])
    step = before_tick.steps[-1]
    later = [f"pto-ben-{n:02d}" for n in range(20, weeks)]
    assert any(f"3 more coverage plans of {BEN} re-drawn at the next health-check" in n for n in step.notes)
    plans = before_tick.state["coverage_plans"]

    def has_initech(absence_id: str, state) -> bool:
        return any(i["account_id"] == "initech" for i in state["coverage_plans"][absence_id]["items"])

    assert [a for a in plans if not has_initech(a, before_tick.state)] == later
    after_tick = run([*booked, *entered, tick(datetime(2026, 12, 2, 12, 45, tzinfo=UTC), "health-check")])
    assert all(has_initech(a, after_tick.state) for a in after_tick.state["coverage_plans"])
    assert after_tick.steps[-1].outcome == "applied"
    assert not after_tick.state.get("timers") or not any(
        t.get("kind") == "coverage" for t in after_tick.state["timers"].values()
    )


def tick(when: datetime, job: str) -> str:
    return line(when, "tick", {"job": job})
