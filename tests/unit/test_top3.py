"""The Top 3 rule (design §6) and the MBR agenda built on it.

One point per criterion: among the set's three highest-ARR accounts, renewing in the
current fiscal quarter, an expansion opportunity; rank by points, then ARR, then id. The
reviews of December 2026 fall in FY2027 Q4 (November 2026 to January 2027)."""

from __future__ import annotations

from datetime import date
from typing import Any

from shared.rules.agenda import mbr_agenda, render, state_line
from shared.rules.top3 import EXPANSION, RENEWING, TOP_ARR, rank, top3

DECEMBER = date(2026, 12, 14)


def account(id_: str, arr: float, renewal: str | None = None, expansion: bool = False, **more: Any) -> dict:
    return {
        "id": id_,
        "name": id_.title(),
        "arr": arr,
        "renewal_date": renewal,
        "expansion_opportunity": expansion,
        **more,
    }


def ids(picks) -> list[str]:
    return [p.account_id for p in picks]


def test_fewer_than_three_accounts_are_all_picked_and_all_among_the_top_arr(policy) -> None:
    picks = top3([account("b", 50_000), account("a", 90_000)], policy.calendar, DECEMBER)
    assert ids(picks) == ["a", "b"]
    assert [p.criteria for p in picks] == [(TOP_ARR,), (TOP_ARR,)]
    assert top3([], policy.calendar, DECEMBER) == []


def test_an_account_matching_all_three_criteria_leads_with_the_sentence_of_why(policy) -> None:
    book = [
        account("big", 900_000),
        account("star", 300_000, "2027-01-15", expansion=True),
        account("mid", 400_000),
        account("small", 20_000),
    ]
    [first, *_] = top3(book, policy.calendar, DECEMBER)
    assert first.account_id == "star" and first.criteria == (TOP_ARR, RENEWING, EXPANSION)
    assert first.why == (
        "Star: among the three highest ARR ($300,000); renews 2027-01-15, in the current fiscal "
        "quarter (FY2027 Q4); has an expansion opportunity (3 of 3 criteria)."
    )


def test_no_renewal_in_the_quarter_ranks_by_points_then_arr(policy) -> None:
    book = [
        account("a", 500_000, "2027-02-01"),  # the day FY2028 Q1 starts: not this quarter
        account("b", 400_000, "2026-10-31"),  # the day before FY2027 Q4: not this quarter either
        account("c", 300_000),
        account("d", 100_000, expansion=True),
        account("e", 200_000, expansion=True),
    ]
    picks = rank(book, policy.calendar, DECEMBER)
    assert all(RENEWING not in p.criteria for p in picks)
    # a, b, c: top ARR (1 point each); d, e: expansion (1 point each): ARR decides
    assert ids(picks) == ["a", "b", "c", "e", "d"]
    assert ids(top3(book, policy.calendar, DECEMBER)) == ["a", "b", "c"]


def test_the_quarter_is_that_of_the_review_day(policy) -> None:
    book = [
        account("a", 25, "2027-02-15", expansion=True),
        account("b", 35, "2026-12-20"),
        account("c", 30),
        account("d", 40),
    ]
    # December (FY2027 Q4): b renews this quarter (2 points); a only has its expansion.
    assert ids(top3(book, policy.calendar, DECEMBER)) == ["b", "d", "c"]
    # February (FY2028 Q1): a renews in it now (2 points); b's renewal is behind it.
    assert ids(top3(book, policy.calendar, date(2027, 2, 8))) == ["a", "d", "b"]


def test_ties_go_by_arr_then_by_id(policy) -> None:
    book = [
        account("zeta", 100_000, expansion=True),
        account("alpha", 100_000, expansion=True),
        account("mid", 100_000, expansion=True),
        account("low", 100_000, expansion=True),
        account("rich", 150_000),
    ]
    picks = rank(book, policy.calendar, DECEMBER)
    # Top ARR: rich, then the first two of the 100k tie by id (alpha, low); mid and zeta miss
    # it. One point each for rich, mid and zeta: rich's ARR first, then the ids.
    assert [(p.account_id, p.points) for p in picks] == [
        ("alpha", 2),
        ("low", 2),
        ("rich", 1),
        ("mid", 1),
        ("zeta", 1),
    ]
    # The same book in another order gives the same ranking.
    assert ids(rank(list(reversed(book)), policy.calendar, DECEMBER)) == ids(picks)


def test_an_account_that_meets_nothing_says_so(policy) -> None:
    book = [account("a", 3), account("b", 2), account("c", 1), account("d", 0)]
    last = rank(book, policy.calendar, DECEMBER)[-1]
    assert last.account_id == "d" and last.points == 0
    assert last.why == "D: meets none of the criteria; next by ARR ($0)."


def test_the_agenda_is_five_fifteen_five_with_the_health_metrics_and_top_3_facts(policy) -> None:
    book = [
        account("acme", 420_000, "2026-12-18", True, health_category="green", health_score=8.1),
        account(
            "globex",
            150_000,
            "2027-04-30",
            health_category="red",
            health_score=3.2,
            lighthouse_active=True,
            lighthouse_entered_at="2026-12-01T10:00:00Z",
            save_plan={"due_date": "2026-12-08"},
        ),
        account("initech", 60_000),
    ]
    picks = top3(book, policy.calendar, DECEMBER)
    changes = [
        {"account_id": "globex", "at": "2026-12-01T10:00:00Z", "old_category": "green", "new_category": "red"}
    ]
    agenda = mbr_agenda(book, picks, changes, date(2026, 11, 9), policy.calendar)
    assert agenda["minutes"] == 30
    assert [agenda[k]["minutes"] for k in ("health", "top3", "asks")] == [5, 15, 5]
    assert agenda["health"]["by_category"] == {
        "green": ["Acme"],
        "yellow": [],
        "red": ["Globex"],
        "not scored": ["Initech"],
    }
    assert agenda["health"]["changes"] == [
        {
            "account_id": "globex",
            "name": "Globex",
            "at": "2026-12-01T10:00:00Z",
            "old_category": "green",
            "new_category": "red",
        }
    ]
    first, second, _ = agenda["top3"]["accounts"]
    assert first["account_id"] == "acme" and first["minutes"] == 5
    assert (first["renewal_date"], first["renewal_quarter"], first["expansion_opportunity"]) == (
        "2026-12-18",
        "FY2027 Q4",
        True,
    )
    assert second["lighthouse"] == "open since 2026-12-01, save plan due 2026-12-08"
    text = render(agenda)
    assert "1. Customer health metrics (5 min)" in text
    assert "   - Globex: green → red on 2026-12-01" in text
    assert "2. Top 3 accounts (15 min, 5 each)" in text
    assert "   2. Globex: ARR $150,000; renews 2027-04-30 (FY2028 Q1); health red (3.2)" in text
    assert "3. Asks for the business (5 min)" in text
    assert "Save plans in Lighthouse: Globex" in text


def test_a_state_line_names_everything_a_leader_scans(policy) -> None:
    line = state_line(
        account("acme", 420_000, "2026-12-18", True, health_category="green"), policy.calendar, "Ana"
    )
    assert line == (
        "Acme (TA Ana): ARR $420,000; renews 2026-12-18 (FY2027 Q4); health green; "
        "expansion opportunity; Lighthouse plan none"
    )
    assert "no renewal date" in state_line(account("x", 0), policy.calendar)
