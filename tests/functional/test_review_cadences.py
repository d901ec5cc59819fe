"""MBR and internal QBR reminders on the replay clock: one per TA a month and one per AE a
quarter, whatever the ticks (daily with one fired twice, weekly, the policy's schedule,
after a three-week gap), never for a review week that has passed; the exact Top 3; a TA
away for the whole MBR week asked to reschedule with their manager.

The book is examples/book.json grown by a few of Ana Ruiz's accounts (Berlin) and a second
AE, Erin Lowe. Ana's accounts, for December and January (FY2027 Q4, November to January):
Acme 420k renewing 2026-12-18 with an expansion (3 points), Hooli 200k (top ARR), Globex
150k (top ARR), Umbrella 90k renewing 2027-03-15 with an expansion, Soylent 95k (nothing):
Top 3 Acme, Hooli, Globex. In February (FY2028 Q1) Globex (renewing 2027-04-30) and
Umbrella renew in the quarter: Acme, Globex, Umbrella. Ben Cho (Los Angeles) has Initech.
MBR weeks: 14-20 December, 11-17 January, 8-14 February; reminders owed from three working
days before (9 December, 6 January, 3 February). The first QBR week of FY2028 is 1-7
February 2027, its reminders owed from five working days before (25 January).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from shared.book import parse_book
from shared.cadences.mbr import calendar_event_id
from shared.delivery import deliver
from shared.processing import OUTBOX
from shared.replay import replay
from shared.sources.senders import build_senders
from shared.store import EmbeddedStore
from tests.functional.test_health import ping, time_off
from tests.gmail_messages import line

ANA, BEN, MARA = "ana@example.com", "ben@example.com", "mara@example.com"
ALEX, ERIN, COLE = "alex@example.com", "erin@example.com", "cole@example.com"
DANA, VERA = "dana@example.com", "vp@example.com"
JOBS = ("mbr-reminder", "qbr-reminder")
EVENTS = Path(__file__).resolve().parents[1] / "events"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tick(when: datetime, job: str) -> str:
    return line(when, "tick", {"job": job})


def ticks(first: str, days: int, every: int = 1, skip: tuple[str, str] | None = None) -> list[str]:
    """Both jobs' ticks from ``first`` every ``every`` days, none inside ``skip`` (from, to)."""
    out = []
    for n in range(0, days, every):
        when = at(first) + timedelta(days=n)
        if skip and at(skip[0]) <= when < at(skip[1]):
            continue
        out += [tick(when, job) for job in JOBS]
    return out


def in_order(lines: list[str]) -> list[str]:
    return sorted(lines, key=lambda text: json.loads(text)["at"])


@pytest.fixture
def book(book_data) -> dict[str, Any]:
    data = {**book_data, "people": list(book_data["people"]), "accounts": list(book_data["accounts"])}
    data["people"].append(
        {"email": ERIN, "name": "Erin Lowe", "role": "AE", "timezone": "Europe/London", "slack_id": "U0ERIN"}
    )
    for account in (
        {"id": "hooli", "name": "Hooli", "arr": 200000, "renewal_date": "2027-06-30", "ae": ALEX},
        {
            "id": "umbrella",
            "name": "Umbrella",
            "arr": 90000,
            "renewal_date": "2027-03-15",
            "expansion_opportunity": True,
            "ae": ERIN,
        },
        {"id": "soylent", "name": "Soylent", "arr": 95000},
    ):
        data["accounts"].append({"developers": 2000, "ta": ANA, "health_category": "green", **account})
    return data


@pytest.fixture
def run(book, policy):
    def go(lines: list[str], scheduler: bool = False, until: str | None = None, use=None):
        return replay(
            lines, parse_book(book), use or policy, scheduler=scheduler, until=at(until) if until else None
        )

    return go


def reminders(result, cadence: str = "mbr") -> list[tuple[Any, ...]]:
    """(key, recipient, at, top3) of each reminder meant for its TA (or AE), in order."""
    return [
        (a["idempotency_key"], a["recipients"][0], a["at"], a.get("top3"))
        for a in result.actions
        if a.get("cadence") == cadence
        and a["kind"] != "calendar.event"
        and a["idempotency_key"].count(":") == 2
    ]


TOP_Q4 = ["acme", "hooli", "globex"]
TOP_Q1 = ["acme", "globex", "umbrella"]
MBR_DAILY = [
    ("mbr:ana@example.com:2026-12", ANA, "2026-12-09T09:00:00Z", TOP_Q4),
    ("mbr:ben@example.com:2026-12", BEN, "2026-12-09T09:00:00Z", ["initech"]),
    ("mbr:ana@example.com:2027-01", ANA, "2027-01-06T09:00:00Z", TOP_Q4),
    ("mbr:ben@example.com:2027-01", BEN, "2027-01-06T09:00:00Z", ["initech"]),
    ("mbr:ana@example.com:2027-02", ANA, "2027-02-03T09:00:00Z", TOP_Q1),
    ("mbr:ben@example.com:2027-02", BEN, "2027-02-03T09:00:00Z", ["initech"]),
]
QBR_DAILY = [
    ("qbr:alex@example.com:FY2028-Q1", ALEX, "2027-01-25T09:00:00Z", None),
    ("qbr:erin@example.com:FY2028-Q1", ERIN, "2027-01-25T09:00:00Z", None),
]


def test_ten_weeks_of_daily_ticks_with_duplicates_give_one_mbr_a_month_and_one_qbr_a_quarter(run) -> None:
    lines = ticks("2026-11-26T09:00:00", 70)  # to 3 February 2027
    # Cloud Scheduler fires twice on the 1st of each month and on the first reminder day.
    for again in ("2026-12-01T09:00:20", "2026-12-09T09:00:30", "2027-01-01T09:00:20", "2027-02-01T09:01:00"):
        lines += [tick(at(again), job) for job in JOBS]
    result = run(in_order(lines))
    assert reminders(result) == MBR_DAILY
    assert reminders(result, "qbr") == QBR_DAILY
    # Nothing else from these jobs: the copies of each QBR and nothing more.
    keys = [a["idempotency_key"] for a in result.actions if a.get("cadence") in ("mbr", "qbr")]
    assert len(keys) == len(set(keys)) == 6 + 6 + 4  # Alex's QBR: 6 people; Erin's: Erin, Ana, Dana, Vera
    ana_december = next(a for a in result.actions if a["idempotency_key"] == "mbr:ana@example.com:2026-12")
    assert ana_december["period"] == "2026-12" and ana_december["attendees"] == [ANA, DANA, VERA]
    assert [p["account_id"] for p in ana_december["top3_why"]] == TOP_Q4
    assert ana_december["top3_why"][0]["why"] == (
        "Acme Corp: among the three highest ARR ($420,000); renews 2026-12-18, in the current fiscal "
        "quarter (FY2027 Q4); has an expansion opportunity (3 of 3 criteria)."
    )
    assert ana_december["mbr_week"] == {"start": "2026-12-14", "end": "2026-12-20"}
    assert ana_december["reschedule"] is False and ana_december["minutes"] == 30


def test_weekly_ticks_give_the_same_reminders_on_the_mondays_inside_each_window(run) -> None:
    result = run(ticks("2026-11-30T09:00:00", 70, every=7))  # Mondays, to 1 February
    # The Monday before each MBR week is before its window: the week's own Monday catches it.
    assert reminders(result) == [
        ("mbr:ana@example.com:2026-12", ANA, "2026-12-14T09:00:00Z", TOP_Q4),
        ("mbr:ben@example.com:2026-12", BEN, "2026-12-14T09:00:00Z", ["initech"]),
        ("mbr:ana@example.com:2027-01", ANA, "2027-01-11T09:00:00Z", TOP_Q4),
        ("mbr:ben@example.com:2027-01", BEN, "2027-01-11T09:00:00Z", ["initech"]),
    ]
    assert reminders(result, "qbr") == QBR_DAILY


def test_the_policy_schedule_on_the_simulated_scheduler_gives_the_daily_reminders(run) -> None:
    result = run([ping("2026-11-26T08:00:00", "initech", 6.5)], scheduler=True, until="2027-02-04T00:00:00")
    assert reminders(result) == MBR_DAILY
    assert reminders(result, "qbr") == QBR_DAILY


def test_a_three_week_gap_in_ticks_is_caught_up_once_by_the_next_tick(run) -> None:
    # No tick from 26 November to 16 December: the December window opened on the 9th.
    lines = ticks("2026-11-20T09:00:00", 45, skip=("2026-11-26T00:00:00", "2026-12-16T00:00:00"))
    result = run(lines)
    assert reminders(result) == [
        ("mbr:ana@example.com:2026-12", ANA, "2026-12-16T09:00:00Z", TOP_Q4),
        ("mbr:ben@example.com:2026-12", BEN, "2026-12-16T09:00:00Z", ["initech"]),
    ]  # and the daily ticks after it, to 3 January, add nothing (January's opens on the 6th)


def test_an_mbr_week_that_passed_in_a_gap_is_never_reminded_of(run) -> None:
    # The last tick before the gap is Friday 4 December, the next Friday 25 December: the
    # December window (9 to 20 December) opened and closed in between.
    lines = ticks("2026-11-30T09:00:00", 40, skip=("2026-12-05T00:00:00", "2026-12-25T00:00:00"))
    result = run(lines)
    assert [key for key, *_ in reminders(result)] == [
        "mbr:ana@example.com:2027-01",
        "mbr:ben@example.com:2027-01",
    ]


def _away(first: str, last: str, received: str = "2026-11-30T10:00:00") -> str:
    return time_off(ANA, "Ana Ruiz", date.fromisoformat(first), date.fromisoformat(last), "pto-ana", received)


def mbr_messages(result) -> list[tuple[Any, ...]]:
    return [
        (a["kind"], a["idempotency_key"], a["recipients"][0], a["meant_for"][0], a["reschedule"])
        for a in result.actions
        if a.get("cadence") == "mbr" and a["period"] == "2026-12"
    ]


def test_a_ta_away_for_the_whole_mbr_week_is_asked_to_reschedule_with_their_manager(run) -> None:
    result = run([_away("2026-12-14", "2026-12-18"), *ticks("2026-12-01T09:00:00", 12)])
    assert mbr_messages(result) == [
        ("slack.message", "mbr:ana@example.com:2026-12", ANA, ANA, True),
        ("slack.message", "mbr:ana@example.com:2026-12:manager", MARA, MARA, True),
        ("slack.message", "mbr:ben@example.com:2026-12", BEN, BEN, False),
    ]
    ana = next(a for a in result.actions if a["idempotency_key"] == "mbr:ana@example.com:2026-12")
    assert "away for all of it" in ana["reason"] and ana["top3"] == TOP_Q4
    assert ana["text"].startswith("*Reschedule the MBR of Ana Ruiz: away the week of 14 Dec*")


def test_the_reschedule_request_is_routed_when_the_ta_is_already_away(run) -> None:
    # Away from Tuesday 8 December: on the 9th Ana's request goes to Ben, her coverage peer.
    result = run([_away("2026-12-08", "2026-12-18"), *ticks("2026-12-01T09:00:00", 12)])
    assert mbr_messages(result)[:2] == [
        ("slack.message", "mbr:ana@example.com:2026-12", BEN, ANA, True),
        ("slack.message", "mbr:ana@example.com:2026-12:manager", MARA, MARA, True),
    ]
    routed = next(a for a in result.actions if a["idempotency_key"] == "mbr:ana@example.com:2026-12")
    assert "for Ana Ruiz, who is out until 2026-12-18 (Ben Cho is their coverage peer)" in routed["reason"]


def test_a_ta_back_for_part_of_the_mbr_week_gets_the_ordinary_reminder(run) -> None:
    result = run([_away("2026-12-14", "2026-12-17"), *ticks("2026-12-01T09:00:00", 12)])
    assert mbr_messages(result)[0] == ("slack.message", "mbr:ana@example.com:2026-12", ANA, ANA, False)


def test_the_agenda_carries_the_category_changes_since_the_last_mbr(run) -> None:
    lines = [
        ping("2026-11-05T10:00:00", "acme", 3.0),  # before November's MBR week: not in December's
        ping("2026-12-02T10:00:00", "acme", 6.0),  # red → yellow
        ping("2026-12-20T10:00:00", "acme", 8.0),  # yellow → green: January's
        *ticks("2026-12-03T09:00:00", 40),
    ]
    result = run(in_order(lines))
    agendas = {
        a["period"]: a["agenda"]["health"]
        for a in result.actions
        if a.get("cadence") == "mbr" and a["recipients"] == [ANA]
    }
    assert agendas["2026-12"]["changes_since"] == "2026-11-09"
    assert [
        (c["account_id"], c["old_category"], c["new_category"]) for c in agendas["2026-12"]["changes"]
    ] == [("acme", "red", "yellow")]
    assert [(c["old_category"], c["new_category"]) for c in agendas["2027-01"]["changes"]] == [
        ("yellow", "green")
    ]
    assert agendas["2027-01"]["by_category"]["green"] == ["Acme Corp", "Hooli", "Soylent", "Umbrella"]


def test_the_qbr_reminder_goes_to_the_account_teams_and_copies_leadership(run) -> None:
    result = run(ticks("2027-01-25T09:00:00", 1))
    alex = [
        a for a in result.actions if a.get("cadence") == "qbr" and a["idempotency_key"].startswith("qbr:alex")
    ]
    assert [(a["recipients"][0], a["qbr_role"]) for a in alex] == [
        (ALEX, "ae"),
        (ANA, "ta"),
        (BEN, "ta"),
        (COLE, "ce"),
        (DANA, "copied"),
        (VERA, "copied"),
    ]
    first = alex[0]
    assert first["period"] == "FY2028-Q1" and first["copied"] == [DANA, VERA]
    assert first["qbr_week"] == {"start": "2027-02-01", "end": "2027-02-07"} and first["minutes"] == 60
    # Alex's accounts with a TA, ranked as for a Top 3 in FY2028 Q1 (February to April).
    assert [(a["account_id"], a["points"]) for a in first["accounts"]] == [
        ("acme", 2),  # top ARR, expansion
        ("globex", 2),  # top ARR, renews 2027-04-30
        ("hooli", 1),  # top ARR
        ("initech", 0),
    ]
    assert first["accounts"][1]["state"] == (
        "Globex (TA Ana Ruiz): ARR $150,000; renews 2027-04-30 (FY2028 Q1); health red (3.2); "
        "no expansion opportunity; Lighthouse plan open since 2026-10-01"
    )
    assert "TS and Sales leadership select which accounts will be reviewed" in alex[4]["reason"]
    assert "you are the TA of Acme Corp, Globex, Hooli, shared with the AE" in alex[1]["reason"]


def test_reminder_times_follow_each_tas_clock_across_the_dst_changes(run) -> None:
    lines = [
        # Berlin is on 4 March (CET) at 23:30 UTC; Los Angeles still on the 3rd.
        tick(at("2026-03-03T23:30:00"), "mbr-reminder"),
        tick(at("2026-03-04T09:00:00"), "mbr-reminder"),  # 01:00 in LA (PST)
        # Berlin is on 8 April (CEST) at 22:30 UTC; Los Angeles (PDT) still on the 7th.
        tick(at("2026-04-07T22:30:00"), "mbr-reminder"),
        tick(at("2026-04-08T09:00:00"), "mbr-reminder"),  # 02:00 in LA (PDT)
    ]
    sent = [
        (a["idempotency_key"], a["at"], a["not_before"])
        for a in run(lines).actions
        if a.get("cadence") == "mbr"
    ]
    assert sent == [
        ("mbr:ana@example.com:2026-03", "2026-03-03T23:30:00Z", "2026-03-04T08:00:00Z"),  # 09:00 CET
        ("mbr:ben@example.com:2026-03", "2026-03-04T09:00:00Z", "2026-03-04T17:00:00Z"),  # 09:00 PST
        ("mbr:ana@example.com:2026-04", "2026-04-07T22:30:00Z", "2026-04-08T07:00:00Z"),  # 09:00 CEST
        ("mbr:ben@example.com:2026-04", "2026-04-08T09:00:00Z", "2026-04-08T16:00:00Z"),  # 09:00 PDT
    ]


# -- the MBR on the TA's calendar (policy mbr.calendar_event) ------------------------------


@pytest.fixture
def with_calendar(policy):
    return policy.model_copy(update={"mbr": policy.mbr.model_copy(update={"calendar_event": True})})


def calendar_events(result) -> dict[str, dict[str, Any]]:
    return {a["calendar_id"]: a for a in result.actions if a["kind"] == "calendar.event"}


def test_the_mbr_goes_on_each_tas_calendar_in_their_own_time_zone(run, with_calendar) -> None:
    result = run(ticks("2026-12-09T09:00:00", 3), use=with_calendar)
    events = calendar_events(result)
    ana, ben = events[ANA], events[BEN]
    assert ana["idempotency_key"] == "mbr:ana@example.com:2026-12:calendar"
    assert ana["calendar_event_id"] == calendar_event_id(ana["idempotency_key"])
    assert re.fullmatch(r"[a-v0-9]{5,1024}", ana["calendar_event_id"])  # Calendar's rule for ids we choose
    assert (ana["start"], ana["end"], ana["time_zone"]) == (
        "2026-12-15T10:00:00+01:00",
        "2026-12-15T10:30:00+01:00",
        "Europe/Berlin",
    )
    assert ana["attendees"] == ana["recipients"] == [ANA, DANA, VERA]
    assert ana["description"].startswith("Agenda (30 minutes)") and "Acme Corp" in ana["description"]
    assert (ana["cadence"], ana["period"], ana["send_updates"], ana["not_before"]) == (
        "mbr",
        "2026-12",
        "all",
        None,
    )
    # Ben's: 10:00 in Los Angeles, and the invitation waits for his working hours with his reminder.
    assert (ben["start"], ben["not_before"]) == ("2026-12-15T10:00:00-08:00", "2026-12-09T17:00:00Z")
    reminder = next(a for a in result.actions if a["idempotency_key"] == "mbr:ana@example.com:2026-12")
    assert "It is on your calendar for Tue 15 Dec 10:00 (Europe/Berlin)" in reminder["text"]


def test_no_calendar_event_for_an_mbr_that_must_be_rescheduled(run, with_calendar) -> None:
    result = run([_away("2026-12-14", "2026-12-18"), *ticks("2026-12-01T09:00:00", 12)], use=with_calendar)
    assert list(calendar_events(result)) == [BEN]


CALENDAR = "https://calendar.test/v3"
INSERT = rf"{re.escape(CALENDAR)}/calendars/ana(@|%40)example\.com/events"


@pytest.fixture
def queued(run, with_calendar, monkeypatch):
    """Ana's December calendar.event in an outbox, as the tick left it."""
    monkeypatch.setenv("TAOPS_CALENDAR_API_BASE", CALENDAR)
    action = calendar_events(run(ticks("2026-12-09T09:00:00", 1), use=with_calendar))[ANA]
    store = EmbeddedStore()
    store.put(OUTBOX, action["id"], {**action, "status": "published"})
    return store, action


def deliver_once(store, action, policy):
    senders = build_senders(
        httpx.Client(), lambda user: "ya29.mail", "taops@example.com", lambda user: "ya29.cal"
    )
    return deliver(
        store,
        action["id"],
        senders,
        policy.delivery,
        at("2026-12-09T09:00:05"),
        sleep=lambda s: None,
        dry=False,
    )


def inserted(request: httpx.Request) -> httpx.Response:
    """Calendar's answer to events.insert: the event as created (the documented Event shape)."""
    body = json.loads(request.content)
    created = json.loads((EVENTS / "gcal_events_insert_response.json").read_text())
    return httpx.Response(200, json={**created, "id": body["id"], "iCalUID": f"{body['id']}@google.com"})


@respx.mock
def test_the_calendar_event_is_inserted_once_with_attendees_and_agenda(queued, policy) -> None:
    store, action = queued
    route = respx.post(url__regex=INSERT).mock(side_effect=inserted)
    assert deliver_once(store, action, policy).status == "delivered"
    assert deliver_once(store, action, policy).status == "delivered"  # redelivered: nothing sent
    assert route.call_count == 1
    request = route.calls.last.request
    assert request.url.params["sendUpdates"] == "all"
    assert request.headers["authorization"] == "Bearer ya29.cal"  # the calendar-writing token
    body = json.loads(request.content)
    assert body == {
        "id": action["calendar_event_id"],
        "summary": "MBR: Ana Ruiz (2026-12)",
        "description": action["description"],
        "start": {"dateTime": "2026-12-15T10:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2026-12-15T10:30:00+01:00", "timeZone": "Europe/Berlin"},
        "attendees": [{"email": ANA}, {"email": DANA}, {"email": VERA}],
    }
    result = store.get(OUTBOX, action["id"])["result"]
    assert result["event_id"] == action["calendar_event_id"] and result["created"] is True
    assert result["html_link"].startswith("https://www.google.com/calendar/event?eid=")


@respx.mock
def test_an_event_calendar_already_holds_is_not_created_again(queued, policy) -> None:
    store, action = queued
    conflict = json.loads((EVENTS / "gcal_events_insert_conflict_409.json").read_text())
    route = respx.post(url__regex=INSERT).mock(return_value=httpx.Response(409, json=conflict))
    outcome = deliver_once(store, action, policy)
    assert (outcome.status, route.call_count) == ("delivered", 1)
    assert store.get(OUTBOX, action["id"])["result"] == {
        "event_id": action["calendar_event_id"],
        "created": False,
    }


@respx.mock
def test_a_retried_insert_asks_for_the_same_event(queued, policy) -> None:
    store, action = queued
    route = respx.post(url__regex=INSERT).mock(
        side_effect=[httpx.Response(503, json={"error": {"code": 503}}), inserted]
    )
    outcome = deliver_once(store, action, policy)
    assert (outcome.status, outcome.attempts) == ("delivered", 2)
    ids = [json.loads(call.request.content)["id"] for call in route.calls]
    assert ids == [action["calendar_event_id"], action["calendar_event_id"]]
