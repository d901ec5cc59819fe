"""Seat alerts (Scaled Success), replayed with Cloud Scheduler simulated, and on the
hourly Vitally sync with Vitally's account listing mocked in its documented shape: the AE
hears when an account's seats used reach 90% and 100% of its licensed seats, once per
threshold per contract term, at once when Vitally reports the seats and otherwise at the
daily ``seat-check`` tick (07:00 UTC); the TA gets a copy.

The book is examples/book.json plus Umbra Labs: Commercial, $150k ARR, so unmanaged
(Scaled Success); Ana Ruiz (Berlin) is its TA and Alex Grant (New York) its AE; 1,000
seats licensed, 800 used, contract term 2026-02-01..2027-01-31, renewing 2027-01-31.
Seats change through Vitally playbook pings that carry the seat traits flattened on the
account (the shape ``vendors/README.md`` describes).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import respx
from functions_framework import create_app

from shared import clients
from shared.book import import_book, parse_book
from shared.processing import OUTBOX, PROCESSED
from shared.replay import replay
from shared.store import Store
from tests.functional.test_renewal_process import renewal_moved
from tests.gmail_messages import line
from tests.pubsub_events import cloud_event
from tests.vitally_pages import BASE, KEY, VitallyAccountsApi, account, page

ROOT = Path(__file__).resolve().parents[2]

ANA, ALEX = "ana@example.com", "alex@example.com"
TERM = "2026-02-01..2027-01-31"
NEXT_TERM = "2027-02-01..2028-01-31"
UMBRA: dict[str, Any] = {
    "id": "umbra",
    "name": "Umbra Labs",
    "salesforce_id": "001UMB",
    "vitally_id": "vit-umbra",
    "ta": ANA,
    "ae": ALEX,
    "arr": 150000,
    "developers": 800,
    "seats_licensed": 1000,
    "seats_used": 800,
    "contract_start": "2026-02-01",
    "contract_end": "2027-01-31",
    "renewal_date": "2027-01-31",
}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def seats(when: str, used: int, account_id: str = "umbra") -> str:
    """A Vitally playbook ping carrying the account's seats used."""
    body = {"match": {"account": {"id": f"vit-{account_id}", "externalId": account_id, "seats_used": used}}}
    return line(at(when), "vitally", body)


def tick(when: str, job: str = "seat-check") -> str:
    return line(at(when), "tick", {"job": job})


@pytest.fixture
def with_umbra(book_data) -> dict[str, Any]:
    data = copy.deepcopy(book_data)
    data["accounts"].append(dict(UMBRA))
    return data


@pytest.fixture
def run(with_umbra, policy):
    def go(lines: list[str], until: str | None = None, scheduler: bool = True, **changes: Any):
        data = copy.deepcopy(with_umbra)
        data["accounts"][-1].update(changes)
        book = parse_book(data)
        return replay(lines, book, policy, scheduler=scheduler, until=at(until) if until else None)

    return go


def told(result) -> list[tuple[str, str, str | None, str, int]]:
    return [
        (a["idempotency_key"], a["recipients"][0], a["not_before"], a["at"], a["threshold"])
        for a in result.actions
        if a.get("cadence") == "seats"
    ]


def seat_checks(result) -> list[Any]:
    """The replay's steps that were seat-check ticks (the simulated scheduler's included)."""
    return [s for s in result.steps if s.line.source == "tick" and s.line.payload == {"job": "seat-check"}]


def test_one_term_tells_the_ae_once_at_90_and_once_at_100_however_the_count_moves(run) -> None:
    # 85% → 92% → 88% → 95% → 100%: a drop and a rise inside the term tell nobody again.
    result = run(
        [
            seats("2026-11-02T15:00:00", 850),
            seats("2026-11-03T15:00:00", 920),
            seats("2026-11-04T15:00:00", 880),
            seats("2026-11-05T15:00:00", 950),
            seats("2026-11-06T15:00:00", 1000),
        ],
        until="2026-12-31T00:00:00",  # daily seat-check ticks on to the end of the year
    )
    # 15:00 UTC is 10:00 in New York and 16:00 in Berlin: both at work, told at once.
    assert told(result) == [
        (f"seats90:umbra:{TERM}", ALEX, None, "2026-11-03T15:00:00Z", 90),
        (f"seats90:umbra:{TERM}:ta", ANA, None, "2026-11-03T15:00:00Z", 90),
        (f"seats100:umbra:{TERM}", ALEX, None, "2026-11-06T15:00:00Z", 100),
        (f"seats100:umbra:{TERM}:ta", ANA, None, "2026-11-06T15:00:00Z", 100),
    ]
    first = result.actions[[a.get("cadence") for a in result.actions].index("seats")]
    assert first["kind"] == "slack.message" and first["channel"] == "U0AE"
    assert (first["term"], first["period"], first["thresholds"]) == (TERM, TERM, [90])
    assert (first["seats_used"], first["seats_licensed"], first["renewal_date"]) == (920, 1000, "2027-01-31")
    assert [(h["used"], h["at"]) for h in first["seats_trend"]] == [
        (800, None),
        (850, "2026-11-02T15:00:00Z"),
        (920, "2026-11-03T15:00:00Z"),
    ]
    assert (
        "Seats used, oldest first: 800/1,000 (80%) earlier → 850/1,000 (85%) on 2026-11-02" in first["text"]
    )
    assert "Renewal: 2027-01-31 (in 89 days)." in first["text"]
    assert seat_checks(result) == []  # nothing was left for the job
    umbra = result.state["accounts"]["umbra"]
    assert umbra["seat_alerts"]["percents"] == [90, 100]
    assert umbra["seat_check_at"] == "2027-02-01T00:00:00Z"  # the next term may owe them again


def test_89_90_95_100_97_100_is_two_alerts_and_a_recorded_renewal_alerts_again_in_the_new_term(run) -> None:
    result = run(
        [
            seats("2026-11-02T15:00:00", 890),
            seats("2026-11-03T15:00:00", 900),
            seats("2026-11-04T15:00:00", 950),
            seats("2026-11-05T15:00:00", 1000),
            seats("2026-11-06T15:00:00", 970),
            seats("2026-11-09T15:00:00", 1000),
            # The renewal closes in Salesforce: the next renewal is a year on.
            renewal_moved("2026-12-10T15:00:00", "001UMB", "2028-01-31", 7),
        ],
        until="2027-03-01T00:00:00",
    )
    assert told(result) == [
        (f"seats90:umbra:{TERM}", ALEX, None, "2026-11-03T15:00:00Z", 90),
        (f"seats90:umbra:{TERM}:ta", ANA, None, "2026-11-03T15:00:00Z", 90),
        (f"seats100:umbra:{TERM}", ALEX, None, "2026-11-05T15:00:00Z", 100),
        (f"seats100:umbra:{TERM}:ta", ANA, None, "2026-11-05T15:00:00Z", 100),
        # The new term's first seat-check tick (Monday 07:00 UTC): the account is still
        # at 100%, one alert for both thresholds; Alex hears it at 09:00 in New York,
        # Ana at 09:00 in Berlin.
        (f"seats100:umbra:{NEXT_TERM}", ALEX, "2027-02-01T14:00:00Z", "2027-02-01T07:00:00Z", 100),
        (f"seats100:umbra:{NEXT_TERM}:ta", ANA, "2027-02-01T08:00:00Z", "2027-02-01T07:00:00Z", 100),
    ]
    renewed = [a for a in result.actions if a.get("term") == NEXT_TERM]
    assert {a["thresholds"] == [90, 100] for a in renewed} == {True}
    assert "(90% passed with it: no separate alert)" in renewed[0]["text"]


def test_a_renewal_nobody_recorded_starts_no_new_term(run) -> None:
    result = run([seats("2026-11-03T15:00:00", 950)], until="2027-03-01T00:00:00")
    assert [key for key, *_ in told(result)] == [f"seats90:umbra:{TERM}", f"seats90:umbra:{TERM}:ta"]
    # 1 February: the job looks, finds the term over with no next one, and stops looking.
    [look] = seat_checks(result)
    assert look.line.at == at("2027-02-01T07:00:00")
    assert any("no seat alert owed in term 2026-02-01..2027-01-31" in n for n in look.notes)
    assert result.state["accounts"]["umbra"]["seat_check_at"] is None


def test_a_renewal_recorded_after_the_term_ended_alerts_at_the_next_tick(run) -> None:
    result = run(
        [
            seats("2026-11-03T15:00:00", 950),
            # The term ended on 31 January; Salesforce records the renewal ten days later.
            renewal_moved("2027-02-10T15:00:00", "001UMB", "2028-01-31", 7),
        ],
        until="2027-03-01T00:00:00",
    )
    assert told(result)[2:] == [
        (f"seats90:umbra:{NEXT_TERM}", ALEX, "2027-02-11T14:00:00Z", "2027-02-11T07:00:00Z", 90),
        (f"seats90:umbra:{NEXT_TERM}:ta", ANA, "2027-02-11T08:00:00Z", "2027-02-11T07:00:00Z", 90),
    ]


def test_crossing_straight_to_100_is_one_alert_and_90_is_not_sent_later_in_the_term(run) -> None:
    result = run(
        [
            seats("2026-11-02T15:00:00", 850),
            seats("2026-11-03T15:00:00", 1000),
            seats("2026-11-04T15:00:00", 920),
        ],
        until="2026-12-01T00:00:00",
    )
    assert told(result) == [
        (f"seats100:umbra:{TERM}", ALEX, None, "2026-11-03T15:00:00Z", 100),
        (f"seats100:umbra:{TERM}:ta", ANA, None, "2026-11-03T15:00:00Z", 100),
    ]


def test_an_account_imported_over_90_is_told_at_the_first_daily_tick(run) -> None:
    result = run(
        [seats("2026-11-02T15:00:00", 935, account_id="acme")], until="2026-11-20T00:00:00", seats_used=930
    )
    # Monday 2 November's tick came before the first line: Tuesday 07:00 UTC is the first.
    assert told(result) == [
        (f"seats90:umbra:{TERM}", ALEX, "2026-11-03T14:00:00Z", "2026-11-03T07:00:00Z", 90),
        (f"seats90:umbra:{TERM}:ta", ANA, "2026-11-03T08:00:00Z", "2026-11-03T07:00:00Z", 90),
    ]


def test_daily_ticks_with_one_fired_twice_tell_once(run) -> None:
    days = [at("2026-11-03T07:00:00") + timedelta(days=n) for n in range(10)]
    lines = [seats("2026-11-02T15:00:00", 935, account_id="acme")]
    for day in days:
        lines.append(line(day, "tick", {"job": "seat-check"}))
        if day.day == 3:
            lines.append(line(day + timedelta(seconds=30), "tick", {"job": "seat-check"}))
    result = run(lines, scheduler=False, seats_used=930)
    assert [key for key, *_ in told(result)] == [f"seats90:umbra:{TERM}", f"seats90:umbra:{TERM}:ta"]
    first, again = result.steps[1], result.steps[2]
    assert "seat-check: due 1, applied 1, already done 0" in first.notes
    assert again.outcome == "duplicate"  # the same 07:00 slot: the job runs once
    assert all("due 0" in s.notes[0] for s in result.steps[3:])  # nothing owed: nothing read again


def test_the_job_and_the_ping_never_both_tell(run) -> None:
    # Imported at 93%: a ping at 06:00 reports 95% before the day's tick; the 07:00 tick
    # the next day finds it told.
    result = run(
        [seats("2026-11-03T06:00:00", 950), tick("2026-11-04T07:00:00")],
        scheduler=False,
        seats_used=930,
    )
    assert [(key, when) for key, _to, _nb, when, _t in told(result)] == [
        (f"seats90:umbra:{TERM}", "2026-11-03T06:00:00Z"),
        (f"seats90:umbra:{TERM}:ta", "2026-11-03T06:00:00Z"),
    ]
    assert "seat-check: due 0, applied 0, already done 0" in result.steps[1].notes


def test_a_managed_account_over_its_seats_tells_nobody(run) -> None:
    result = run([seats("2026-11-03T15:00:00", 11900, account_id="acme")], until="2026-11-20T00:00:00")
    assert result.state["accounts"]["acme"]["seats_used"] == 11900
    assert told(result) == []


# -- at once on the hourly Vitally sync (respx: GET /resources/accounts) -------------------


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch, with_umbra, policy) -> Iterator[Store]:
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_PUBLISH_ACTIONS", "0")
    monkeypatch.setenv("TAOPS_VITALLY_API_KEY", KEY)
    monkeypatch.setenv("TAOPS_VITALLY_BASE_URL", BASE)
    clients.reset()
    import_book(clients.store(), parse_book(with_umbra), policy)
    yield clients.store()
    clients.reset()


def scheduler_tick(monkeypatch: pytest.MonkeyPatch, when: str, job: str) -> int:
    """A Cloud Scheduler tick through on_cadence_tick; the HTTP status."""
    monkeypatch.setenv("TAOPS_CLOCK", when)
    app = create_app("on_cadence_tick", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(json.dumps({"job": job}).encode(), "cadence-tick")
    return int(app.post("/", headers=headers, data=body).status_code)


def umbra_page(used: int, updated: str) -> dict[str | None, dict[str, Any]]:
    listed = account(
        "vit-umbra",
        "Umbra Labs",
        external_id="umbra",
        updated=updated,
        traits={"seats_used": used, "seats_licensed": 1000},
    )
    return {None: page([listed], None)}


def seat_actions(store: Store) -> list[tuple[str, str, str | None]]:
    return sorted(
        (doc["idempotency_key"], doc["recipients"][0], doc["not_before"])
        for _, doc in store.query(OUTBOX)
        if doc.get("cadence") == "seats"
    )


def test_a_vitally_sync_that_moves_seats_past_90_tells_the_ae_at_once_and_only_once(
    synced, monkeypatch
) -> None:
    with respx.mock:
        VitallyAccountsApi(respx.mock, umbra_page(920, "2026-11-22T08:00:00.000Z"))
        assert scheduler_tick(monkeypatch, "2026-11-22T09:20:00+00:00", "vitally-sync") == 200
    # Sunday: held for Monday 09:00 in New York and in Berlin.
    expected = [
        (f"seats90:umbra:{TERM}", ALEX, "2026-11-23T14:00:00Z"),
        (f"seats90:umbra:{TERM}:ta", ANA, "2026-11-23T08:00:00Z"),
    ]
    assert seat_actions(synced) == expected
    umbra = synced.get("accounts", "umbra")
    assert [(h["used"], h["at"]) for h in umbra["seats_history"]] == [
        (800, None),
        (920, "2026-11-22T08:00:00Z"),
    ]

    # Vitally's later readings: back to 88%, then 95%. The book follows; nobody hears again.
    for used, updated, hour in ((880, "2026-11-22T09:30:00.000Z", 10), (950, "2026-11-22T10:30:00.000Z", 11)):
        with respx.mock:
            VitallyAccountsApi(respx.mock, umbra_page(used, updated))
            assert scheduler_tick(monkeypatch, f"2026-11-22T{hour}:20:00+00:00", "vitally-sync") == 200
    assert synced.get("accounts", "umbra")["seats_used"] == 950
    assert seat_actions(synced) == expected

    # The daily job, fired twice, reads nothing due and decides nothing.
    for second in ("00", "40"):
        assert scheduler_tick(monkeypatch, f"2026-11-23T07:00:{second}+00:00", "seat-check") == 200
    assert seat_actions(synced) == expected
    kinds = [doc["type"] for _, doc in synced.query(PROCESSED)]
    assert kinds.count("cadence.tick") == 4 and "cadence.due" not in kinds
