from __future__ import annotations

from datetime import UTC, date, datetime

from shared.rules.coverage import Window, choose_covers, cover_reasons

WINDOW = Window(
    datetime(2026, 12, 13, 23, tzinfo=UTC),
    datetime(2026, 12, 18, 23, tzinfo=UTC),
    date(2026, 12, 14),
    date(2026, 12, 18),
)
TA = {"email": "ana@x.com", "manager": "mara@x.com", "coverage_peers": ["ben@x.com", "cy@x.com"]}
PEOPLE = {e: {"role": "TA", "manager": "mara@x.com"} for e in ("ana@x.com", "ben@x.com", "cy@x.com")}
PEOPLE["mara@x.com"] = {"role": "TA_MANAGER", "manager": "dana@x.com"}


def away(person: str, start: str, end: str, status: str = "APPROVED") -> dict:
    return {"id": f"pto-{person}", "person": person, "status": status, "starts_at": start, "ends_at": end}


def test_each_reason_applies_with_the_policys_windows(policy) -> None:
    account = {
        "renewal_date": "2026-12-24",
        "health_category": "yellow",
        "lighthouse_active": True,
        "slack_last_activity": "2026-12-01T10:00:00Z",
        "open_tickets": 1,
    }
    codes = [code.value for code, _ in cover_reasons(account, WINDOW, policy.coverage)]
    assert codes == ["renewing", "lighthouse", "slack_active_with_tickets"]  # renews within the 7-day margin
    quiet = {
        "renewal_date": "2026-12-26",
        "health_category": "red",
        "lighthouse_active": False,
        "slack_last_activity": "2026-12-01T10:00:00Z",
        "open_tickets": 0,
    }
    assert cover_reasons(quiet, WINDOW, policy.coverage) == []


def test_accounts_are_balanced_by_count_then_arr() -> None:
    accounts = [
        {"id": "a", "arr": 500},
        {"id": "b", "arr": 400},
        {"id": "c", "arr": 100},
        {"id": "d", "arr": 50},
    ]
    covers, notes = choose_covers(TA, accounts, PEOPLE, [], WINDOW, "pto-ana")
    assert covers == {"a": "ben@x.com", "b": "cy@x.com", "c": "cy@x.com", "d": "ben@x.com"}
    assert notes == []


def test_a_peer_away_for_part_of_the_window_is_skipped() -> None:
    absences = [away("ben@x.com", "2026-12-18T08:00:00Z", "2026-12-20T00:00:00Z")]
    covers, notes = choose_covers(TA, [{"id": "a"}, {"id": "b"}], PEOPLE, absences, WINDOW, "pto-ana")
    assert set(covers.values()) == {"cy@x.com"}
    assert notes == ["ben@x.com is away during part of this absence"]


def test_a_withdrawn_absence_does_not_count_as_away() -> None:
    absences = [
        away("ben@x.com", "2026-12-14T00:00:00Z", "2026-12-20T00:00:00Z", status="CANCELED"),
        away("cy@x.com", "2026-12-14T00:00:00Z", "2026-12-20T00:00:00Z"),
    ]
    covers, _ = choose_covers(TA, [{"id": "a"}], PEOPLE, absences, WINDOW, "pto-ana")
    assert covers == {"a": "ben@x.com"}


def test_with_every_peer_away_the_manager_covers() -> None:
    absences = [away(p, "2026-12-10T00:00:00Z", "2026-12-30T00:00:00Z") for p in ("ben@x.com", "cy@x.com")]
    covers, notes = choose_covers(TA, [{"id": "a"}], PEOPLE, absences, WINDOW, "pto-ana")
    assert covers == {"a": "mara@x.com"} and "mara@x.com (manager) covers" in notes[-1]


def test_a_re_plan_keeps_each_cover_who_is_still_free_and_places_only_the_rest() -> None:
    accounts = [{"id": "a", "arr": 500}, {"id": "b", "arr": 400}, {"id": "new", "arr": 900}]
    current = {"a": "cy@x.com", "b": "cy@x.com"}  # balanced differently from a plan drawn afresh
    covers, _ = choose_covers(TA, accounts, PEOPLE, [], WINDOW, "pto-ana", current)
    assert covers == {"a": "cy@x.com", "b": "cy@x.com", "new": "ben@x.com"}  # the new one evens the load


def test_a_re_plan_moves_only_the_accounts_of_a_cover_who_is_now_away() -> None:
    current = {"a": "ben@x.com", "b": "cy@x.com"}
    absences = [away("ben@x.com", "2026-12-16T00:00:00Z", "2026-12-30T00:00:00Z")]
    covers, _ = choose_covers(TA, [{"id": "a"}, {"id": "b"}], PEOPLE, absences, WINDOW, "pto-ana", current)
    assert covers == {"a": "cy@x.com", "b": "cy@x.com"}


def test_a_manager_standing_in_keeps_the_accounts_when_a_peer_is_free_again() -> None:
    current = {"a": "mara@x.com"}
    covers, notes = choose_covers(TA, [{"id": "a"}, {"id": "b"}], PEOPLE, [], WINDOW, "pto-ana", current)
    assert covers == {"a": "mara@x.com", "b": "ben@x.com"}
    assert notes == []


def test_a_manager_who_is_away_too_is_named_in_the_notes() -> None:
    absences = [
        away(p, "2026-12-10T00:00:00Z", "2026-12-30T00:00:00Z")
        for p in ("ben@x.com", "cy@x.com", "mara@x.com")
    ]
    covers, notes = choose_covers(TA, [{"id": "a"}], PEOPLE, absences, WINDOW, "pto-ana")
    assert covers == {"a": "mara@x.com"}
    assert notes[-1] == "mara@x.com (manager) is away too: nobody else is named to cover"
