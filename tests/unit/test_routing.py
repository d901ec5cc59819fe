"""Who hears, and when (design §5), in the handbook's words: someone who is away is never
the one who hears; their cover, a peer or their manager does; nobody hears outside their
working hours."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.rules.routing import reach, route

ANA = "ana@example.com"  # TA, Berlin
BEN = "ben@example.com"  # TA, Los Angeles
CARLA = "carla@example.com"  # TA, Sao Paulo
MARA = "mara@example.com"  # TA manager, London
DANA = "dana@example.com"  # TA director, Chicago


class Directory:
    """A directory held in memory: people, absences and coverage plans."""

    def __init__(
        self, absences: Iterable[Mapping[str, Any]] = (), plans: Iterable[Mapping[str, Any]] = ()
    ) -> None:
        self.people = {
            ANA: {
                "name": "Ana Ruiz",
                "timezone": "Europe/Berlin",
                "manager": MARA,
                "coverage_peers": [BEN, CARLA],
            },
            BEN: {
                "name": "Ben Cho",
                "timezone": "America/Los_Angeles",
                "manager": MARA,
                "coverage_peers": [ANA],
            },
            CARLA: {
                "name": "Carla Mendes",
                "timezone": "America/Sao_Paulo",
                "manager": MARA,
                "coverage_peers": [],
            },
            MARA: {"name": "Mara Okafor", "timezone": "Europe/London", "manager": DANA, "coverage_peers": []},
            DANA: {
                "name": "Dana Idris",
                "timezone": "America/Chicago",
                "manager": None,
                "coverage_peers": [],
            },
        }
        self._absences = list(absences)
        self._plans = {p["absence_id"]: p for p in plans}

    def person(self, email: str) -> Mapping[str, Any] | None:
        return self.people.get(email)

    def absences(self, email: str) -> Iterable[Mapping[str, Any]]:
        return [a for a in self._absences if a["person"] == email]

    def plan(self, absence_id: str) -> Mapping[str, Any] | None:
        return self._plans.get(absence_id)


def away(person: str, first: str, last: str, absence_id: str | None = None, status: str = "APPROVED") -> dict:
    """Away from the first day's midnight UTC to the day after the last."""
    end = datetime.fromisoformat(last).replace(tzinfo=UTC)
    return {
        "id": absence_id or f"pto-{person}",
        "person": person,
        "status": status,
        "start_date": first,
        "end_date": last,
        "starts_at": f"{first}T00:00:00Z",
        "ends_at": (end.replace(day=end.day + 1)).isoformat().replace("+00:00", "Z"),
    }


TUESDAY = datetime(2026, 12, 15, 10, 0, tzinfo=UTC)


def test_someone_who_is_not_away_hears_it_themselves() -> None:
    routed = route(ANA, TUESDAY, "tyrell", Directory())
    assert (routed.to, routed.reason) == (ANA, "")


def test_a_ta_away_is_replaced_by_the_cover_their_plan_names_for_that_account() -> None:
    plan = {"absence_id": "pto-ana", "status": "shared", "items": [{"account_id": "tyrell", "cover": CARLA}]}
    routed = route(
        ANA, TUESDAY, "tyrell", Directory([away(ANA, "2026-12-14", "2026-12-18", "pto-ana")], [plan])
    )
    assert routed.to == CARLA
    assert (
        routed.reason
        == "for Ana Ruiz, who is out until 2026-12-18 (Carla Mendes is their cover for this account)"
    )


def test_without_a_plan_for_the_account_the_first_free_coverage_peer_hears_it() -> None:
    directory = Directory([away(ANA, "2026-12-14", "2026-12-18"), away(BEN, "2026-12-15", "2026-12-15")])
    routed = route(ANA, TUESDAY, None, directory)
    assert routed.to == CARLA  # Ben, the first peer, is away that day too
    assert "Carla Mendes is their coverage peer" in routed.reason


def test_a_withdrawn_plan_names_no_cover() -> None:
    plan = {
        "absence_id": "pto-ana",
        "status": "withdrawn",
        "items": [{"account_id": "tyrell", "cover": CARLA}],
    }
    routed = route(
        ANA, TUESDAY, "tyrell", Directory([away(ANA, "2026-12-14", "2026-12-18", "pto-ana")], [plan])
    )
    assert routed.to == BEN  # the first peer, not the withdrawn plan's cover


def test_a_manager_away_is_replaced_by_their_own_manager() -> None:
    routed = route(MARA, TUESDAY, "tyrell", Directory([away(MARA, "2026-12-14", "2026-12-18")]))
    assert routed.to == DANA
    assert routed.reason == "for Mara Okafor, who is out until 2026-12-18 (Dana Idris is their manager)"


def test_when_the_peers_are_away_the_manager_hears_it_routed_the_same_way() -> None:
    directory = Directory(
        [
            away(ANA, "2026-12-14", "2026-12-18"),
            away(BEN, "2026-12-14", "2026-12-18"),
            away(CARLA, "2026-12-14", "2026-12-18"),
            away(MARA, "2026-12-14", "2026-12-18"),
        ]
    )
    routed = route(ANA, TUESDAY, "tyrell", directory)
    assert routed.to == DANA
    assert "standing in for their manager Mara Okafor" in routed.reason


def test_when_the_whole_chain_is_away_the_original_person_hears_it_and_the_reason_says_so() -> None:
    everyone = [away(p, "2026-12-14", "2026-12-18") for p in (ANA, BEN, CARLA, MARA, DANA)]
    routed = route(ANA, TUESDAY, "tyrell", Directory(everyone))
    assert routed.to == ANA
    assert routed.reason == (
        "for Ana Ruiz, who is out until 2026-12-18: everyone who could stand in is away too, "
        "so Ana Ruiz hears it"
    )


def test_a_requested_absence_counts_but_a_cancelled_one_does_not() -> None:
    requested = Directory([away(ANA, "2026-12-14", "2026-12-18", status="REQUESTED")])
    cancelled = Directory([away(ANA, "2026-12-14", "2026-12-18", status="CANCELED")])
    assert route(ANA, TUESDAY, None, requested).to == BEN
    assert route(ANA, TUESDAY, None, cancelled).to == ANA


def test_a_friday_evening_alert_to_a_berlin_ta_waits_for_monday_nine_in_berlin(policy) -> None:
    friday_18_berlin = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    reached = reach(ANA, friday_18_berlin, None, Directory(), policy.calendar)
    assert reached.to == ANA
    assert reached.not_before == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 09:00 CET


def test_inside_working_hours_a_message_goes_at_once(policy) -> None:
    assert reach(ANA, TUESDAY, None, Directory(), policy.calendar).not_before is None


def test_a_us_public_holiday_is_skipped(policy) -> None:
    # Thanksgiving, Thu 26 Nov 2026 (the policy's holidays are the US's): Friday 09:00 Berlin.
    wednesday_evening = datetime(2026, 11, 25, 18, 0, tzinfo=UTC)
    reached = reach(ANA, wednesday_evening, None, Directory(), policy.calendar)
    assert reached.not_before == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_working_hours_are_the_recipients_own_not_the_absent_persons(policy) -> None:
    # Ana (Berlin) is away; Carla covers from Sao Paulo, whose day starts four hours later.
    plan = {"absence_id": "pto-ana", "status": "shared", "items": [{"account_id": "tyrell", "cover": CARLA}]}
    directory = Directory([away(ANA, "2026-12-14", "2026-12-18", "pto-ana")], [plan])
    early = datetime(2026, 12, 15, 8, 0, tzinfo=UTC)  # 09:00 in Berlin, 05:00 in Sao Paulo
    reached = reach(ANA, early, "tyrell", directory, policy.calendar)
    assert reached.to == CARLA
    assert reached.not_before == datetime(2026, 12, 15, 12, 0, tzinfo=UTC)  # 09:00 in Sao Paulo


def test_routing_is_decided_for_the_moment_the_message_will_be_read(policy) -> None:
    # Friday evening Ana is at work until the weekend, but she is away from Monday: the
    # message held for Monday morning goes to whoever covers her then.
    directory = Directory([away(ANA, "2026-12-07", "2026-12-11")])
    friday_18_berlin = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    reached = reach(ANA, friday_18_berlin, None, directory, policy.calendar)
    assert reached.to == BEN
    assert reached.not_before is not None and reached.not_before.date().isoformat() == "2026-12-07"
    assert reached.route.reason.startswith("for Ana Ruiz, who is out until 2026-12-11")


@pytest.mark.parametrize(("person", "hears"), [(ANA, CARLA), (MARA, DANA), (BEN, DANA)])
def test_nobody_who_is_away_ever_hears_it(person: str, hears: str) -> None:
    # Ben's only peer is Ana (away): his manager Mara is away too, so Mara's stand-in hears.
    directory = Directory([away(p, "2026-12-14", "2026-12-18") for p in (ANA, BEN, MARA)])
    routed = route(person, TUESDAY, None, directory)
    assert routed.to == hears
    assert routed.to not in {ANA, BEN, MARA}


def test_a_message_over_a_weekend_goes_to_the_person_back_on_monday_not_to_their_cover(policy) -> None:
    # Ana is away Friday to Sunday; on Saturday, Ben would cover, but his Monday starts at
    # 17:00 UTC and Ana's at 08:00: Ana, back, hears it first thing Monday.
    directory = Directory([away(ANA, "2026-12-11", "2026-12-13")])
    saturday = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    reached = reach(ANA, saturday, None, directory, policy.calendar)
    assert (reached.to, reached.not_before) == (ANA, datetime(2026, 12, 14, 8, 0, tzinfo=UTC))
    assert reached.route.reason == ""


def test_a_manager_back_before_their_stand_in_starts_work_hears_it_themselves(policy) -> None:
    # Mara (London) is away until Sunday; Saturday her manager Dana (Chicago) would stand in,
    # but Mara is back at work Monday 09:00 London, hours before Dana's day begins.
    directory = Directory([away(MARA, "2026-12-11", "2026-12-13")])
    saturday = datetime(2026, 12, 12, 10, 0, tzinfo=UTC)
    reached = reach(MARA, saturday, None, directory, policy.calendar)
    assert (reached.to, reached.not_before) == (MARA, datetime(2026, 12, 14, 9, 0, tzinfo=UTC))
