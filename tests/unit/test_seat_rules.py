"""The seat-alert rules (``shared.rules.seats``): which contract term an alert belongs to,
which thresholds are reached and owed, when the seat-check job should look, and what the
AE and the TA are told. Pure functions: no store, no clock."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import pytest

from shared.rules import seats

NOW = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)  # a Tuesday: 16:00 in Berlin, 10:00 in New York
PEOPLE = {
    "ana@example.com": {"email": "ana@example.com", "name": "Ana Ruiz", "timezone": "Europe/Berlin"},
    "alex@example.com": {"email": "alex@example.com", "name": "Alex Grant", "timezone": "America/New_York"},
}


class Nobody:
    """A directory where everyone is at work (routing itself is tested elsewhere)."""

    def person(self, email: str) -> Mapping[str, Any] | None:
        return PEOPLE.get(email)

    def absences(self, email: str) -> Iterable[Mapping[str, Any]]:
        return []

    def plan(self, absence_id: str) -> Mapping[str, Any] | None:
        return None


def umbra(**fields: Any) -> dict[str, Any]:
    """An unmanaged (Scaled Success) account in its 2026-02-01..2027-01-31 contract term."""
    return {
        "id": "umbra",
        "name": "Umbra Labs",
        "managed": False,
        "ta": "ana@example.com",
        "ae": "alex@example.com",
        "seats_licensed": 1000,
        "seats_used": 800,
        "contract_start": "2026-02-01",
        "contract_end": "2027-01-31",
        "renewal_date": "2027-01-31",
        **fields,
    }


@pytest.mark.parametrize(
    ("fields", "today", "term"),
    [
        ({}, date(2026, 11, 3), "2026-02-01..2027-01-31"),
        # a renewal closed early moves the date a year on: the contract term still runs
        ({"renewal_date": "2028-01-31"}, date(2026, 12, 20), "2026-02-01..2027-01-31"),
        # the day after the contract: the period up to the renewal Salesforce recorded
        ({"renewal_date": "2028-01-31"}, date(2027, 2, 1), "2027-02-01..2028-01-31"),
        # nobody recorded the renewal: still the last known term, no new one invented
        ({}, date(2027, 2, 5), "2026-02-01..2027-01-31"),
        # a renewal that slipped past the contract's end
        ({"renewal_date": "2027-03-01"}, date(2027, 2, 10), "2027-02-01..2027-03-01"),
        # no contract dates: the period up to the renewal date
        (
            {"contract_start": None, "contract_end": None, "renewal_date": "2027-04-30"},
            date(2026, 11, 3),
            "..2027-04-30",
        ),
        ({"contract_start": None, "renewal_date": None}, date(2026, 11, 3), "..2027-01-31"),
        ({"contract_start": None, "contract_end": None, "renewal_date": None}, date(2026, 11, 3), "open"),
        # a contract booked ahead: today is in the period before it
        ({"contract_start": "2027-02-01", "contract_end": "2028-01-31"}, date(2026, 12, 1), "..2027-01-31"),
    ],
)
def test_the_term_string_names_the_contract_term_today_falls_in(fields, today: date, term: str) -> None:
    assert seats.current_term(umbra(**fields), today).text == term


def test_a_term_alerted_in_lasts_to_its_end_whatever_the_renewal_date_says_meanwhile() -> None:
    told = {"term": "..2027-01-31", "term_start": None, "term_end": "2027-01-31", "percents": [90]}
    account = umbra(contract_start=None, contract_end=None, renewal_date="2028-01-31", seat_alerts=told)
    assert seats.current_term(account, date(2026, 12, 20)).text == "..2027-01-31"
    assert seats.current_term(account, date(2027, 2, 1)).text == "..2028-01-31"  # the next one


def test_a_slipping_renewal_keeps_the_thresholds_told_in_a_term_known_by_its_first_day(policy) -> None:
    told = {
        "term": "2027-02-01..2027-03-01",
        "term_start": "2027-02-01",
        "term_end": "2027-03-01",
        "percents": [90],
    }
    account = umbra(renewal_date="2028-03-01", seats_used=950, seat_alerts=told)
    term, owed = seats.owed(account, policy, date(2027, 3, 10))
    assert term.text == "2027-02-01..2028-03-01" and owed == []


@pytest.mark.parametrize(
    ("used", "licensed", "expected"),
    [
        (899, 1000, []),
        (900, 1000, [90]),
        (27, 30, [90]),
        (999, 1000, [90]),
        (1000, 1000, [90, 100]),
        (1001, 1000, [90, 100]),
        (5, 0, []),
    ],
)
def test_thresholds_are_reached_in_whole_numbers(
    policy, used: int, licensed: int, expected: list[int]
) -> None:
    assert seats.reached(umbra(seats_used=used, seats_licensed=licensed), policy) == expected


def test_only_unmanaged_accounts_are_in_the_program_unless_the_policy_says_all(policy) -> None:
    managed = umbra(managed=True, seats_used=950)
    assert seats.owed(managed, policy, NOW.date())[1] == []
    everyone = policy.model_copy(
        update={"scaled_success": policy.scaled_success.model_copy(update={"seat_alerts_for": "all"})}
    )
    assert seats.owed(managed, everyone, NOW.date())[1] == [90]


def test_check_at_is_now_when_owed_the_next_term_once_told_and_never_below_the_thresholds(policy) -> None:
    assert seats.check_at(umbra(seats_used=850), policy, NOW) is None
    assert seats.check_at(umbra(managed=True, seats_used=950), policy, NOW) is None
    assert seats.check_at(umbra(seats_used=950), policy, NOW) == "2026-11-03T15:00:00Z"
    told = {
        "term": "2026-02-01..2027-01-31",
        "term_start": "2026-02-01",
        "term_end": "2027-01-31",
        "percents": [90],
    }
    assert seats.check_at(umbra(seats_used=950, seat_alerts=told), policy, NOW) == "2027-02-01T00:00:00Z"
    # the term is over and no next one is known: only a seat or renewal change can owe one
    assert (
        seats.check_at(umbra(seats_used=950, seat_alerts=told), policy, datetime(2027, 2, 5, tzinfo=UTC))
        is None
    )
    # the book import has no trustworthy clock: the next tick looks
    assert seats.check_at(umbra(seats_used=950, seat_alerts=told), policy, None) == seats.LOOK_NOW


def test_the_history_keeps_the_count_it_replaced_then_each_change_bounded(policy) -> None:
    before = umbra()
    after = seats.record_seats(before, {**before, "seats_used": 850}, NOW, policy)
    assert after["seats_history"] == [
        {"at": None, "used": 800, "licensed": 1000},
        {"at": "2026-11-03T15:00:00Z", "used": 850, "licensed": 1000},
    ]
    again = seats.record_seats(after, after, NOW, policy)  # the same count: nothing new
    assert again["seats_history"] == after["seats_history"]
    account = after
    for n in range(20):
        account = seats.record_seats(account, {**account, "seats_used": 860 + n}, NOW, policy)
    assert len(account["seats_history"]) == policy.scaled_success.seat_history_kept
    assert account["seats_history"][-1]["used"] == 879


def test_crossing_90_and_100_at_once_is_one_alert_for_100_to_the_ae_and_a_copy_to_the_ta(policy) -> None:
    account = seats.record_seats(umbra(), umbra(seats_used=1000), NOW, policy)
    out = seats.alert(account, Nobody(), policy, NOW)
    key = "seats100:umbra:2026-02-01..2027-01-31"
    assert [(a.kind, a.idempotency_key, a.recipients, a.not_before) for a in out.actions] == [
        ("email.send", key, ["alex@example.com"], None),
        ("email.send", f"{key}:ta", ["ana@example.com"], None),
    ]
    ae = out.actions[0].model_dump(mode="json")
    assert {k: ae[k] for k in ("cadence", "period", "term", "threshold", "thresholds", "renewal_date")} == {
        "cadence": "seats",
        "period": "2026-02-01..2027-01-31",
        "term": "2026-02-01..2027-01-31",
        "threshold": 100,
        "thresholds": [90, 100],
        "renewal_date": "2027-01-31",
    }
    assert (ae["seats_used"], ae["seats_licensed"], ae["seats_percent"]) == (1000, 1000, 100.0)
    assert ae["subject"] == "Seats: Umbra Labs has reached 100% (1,000 of 1,000 used)"
    assert ae["body"].startswith(
        "Umbra Labs uses 1,000 of its 1,000 licensed seats (100%): it has reached 100% of its "
        "seats (90% passed with it: no separate alert) in its contract term 2026-02-01 to 2027-01-31.\n"
        "Seats used, oldest first: 800/1,000 (80%) earlier → 1,000/1,000 (100%) on 2026-11-03.\n"
        "Renewal: 2027-01-31 (in 89 days).\n"
    )
    assert out.account["seat_alerts"] == {
        "term": "2026-02-01..2027-01-31",
        "term_start": "2026-02-01",
        "term_end": "2027-01-31",
        "percents": [90, 100],
        "at": "2026-11-03T15:00:00Z",
    }
    assert out.account["seat_check_at"] == "2027-02-01T00:00:00Z"
    # A drop to 92% and back: nothing more in this term.
    assert seats.alert({**out.account, "seats_used": 920}, Nobody(), policy, NOW).actions == []


def test_an_account_without_an_ae_tells_its_ta_under_the_alerts_own_key(policy) -> None:
    out = seats.alert(umbra(ae=None, seats_used=930), Nobody(), policy, NOW)
    [only] = out.actions
    assert (only.idempotency_key, only.recipients) == (
        "seats90:umbra:2026-02-01..2027-01-31",
        ["ana@example.com"],
    )
    assert only.reason.endswith("it has no AE, so its TA hears it")
