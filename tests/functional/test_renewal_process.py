"""The 120-day renewal process, replayed with Cloud Scheduler simulated: it starts by
itself on its first day (the daily ``renewal-process`` tick), once per renewal date, at
once when Salesforce moves the date inside the window, and never for a renewal already over.

The book is examples/book.json: Globex (Ana Ruiz's, sold by Alex Grant in New York)
renews 2027-04-30, so its process starts on 2026-12-31; Acme Corp renews 2026-12-18.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.book import parse_book
from shared.replay import replay
from tests.gmail_messages import line

ANA, ALEX = "ana@example.com", "alex@example.com"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def renewal_moved(when: str, salesforce_account: str, close_date: str, commit: int) -> str:
    """A Salesforce CDC update of the renewal opportunity, as the Pub/Sub API delivers it."""
    body = {
        "event": {"replayId": commit},
        "payload": {
            "AccountId": salesforce_account,
            "ChangeEventHeader": {
                "changeOrigin": "com/salesforce/api/rest/60.0",
                "changeType": "UPDATE",
                "changedFields": ["CloseDate", "LastModifiedDate"],
                "commitNumber": commit,
                "commitTimestamp": int(at(when).timestamp() * 1000),
                "commitUser": "0055e000008AbCdAAK",
                "entityName": "Opportunity",
                "recordIds": [f"006{salesforce_account}"],
                "sequenceNumber": 1,
                "transactionKey": f"tx-{commit}",
            },
            "CloseDate": close_date,
            "LastModifiedDate": at(when).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Type": "Renewal",
        },
        "schema": "Tt0ncm9SxUMZz9mj6V-Avw",
    }
    return line(at(when), "salesforce", body)


def quiet(when: str) -> str:
    """A line that changes nothing renewals care about: it starts the replayed world."""
    body = {"match": {"account": {"id": "vit-initech", "externalId": "initech", "healthScore": 6.5}}}
    return line(at(when), "vitally", body)


@pytest.fixture
def run(book_data, policy):
    book = parse_book(book_data)

    def go(lines: list[str], until: str):
        return replay(lines, book, policy, scheduler=True, until=at(until))

    return go


def renewal(result) -> list[tuple[str, str, list[str], str | None, str]]:
    return [
        (a["kind"], a["idempotency_key"], a["recipients"], a["not_before"], a["at"])
        for a in result.actions
        if a.get("cadence") == "renewal"
    ]


def test_the_process_starts_by_itself_on_its_day_and_once_under_daily_ticks(run) -> None:
    result = run([quiet("2026-12-28T09:00:00")], until="2027-01-12T00:00:00")
    assert renewal(result) == [
        ("vitally.task", "renewal-start:globex:2027-04-30", [ANA], None, "2026-12-31T07:00:00Z"),
        # 02:00 in New York: the note waits for Alex's working day.
        (
            "slack.message",
            "renewal-start:globex:2027-04-30:ae",
            [ALEX],
            "2026-12-31T14:00:00Z",
            "2026-12-31T07:00:00Z",
        ),
    ]
    task = next(a for a in result.actions if a["idempotency_key"] == "renewal-start:globex:2027-04-30")
    assert task["due_date"] == "2027-01-14" and task["period"] == "2027-04-30"
    assert "green (on track), yellow" in task["description"]
    assert result.state["accounts"]["globex"]["renewal_process"]["renewal_date"] == "2027-04-30"
    # Acme renewed on 2026-12-18, before the replayed world began: not caught up.
    assert not any(a["account_id"] == "acme" for a in result.actions if a.get("cadence") == "renewal")


def test_a_renewal_already_inside_its_window_at_import_starts_at_the_first_tick(run) -> None:
    result = run([quiet("2026-12-01T09:00:00")], until="2026-12-03T00:00:00")
    keys = [key for _kind, key, _to, _nb, _at in renewal(result)]
    assert keys == ["renewal-start:acme:2026-12-18", "renewal-start:acme:2026-12-18:ae"]
    assert next(a["at"] for a in result.actions if a.get("cadence") == "renewal") == "2026-12-02T07:00:00Z"


def test_a_date_moved_inside_the_window_starts_the_process_on_the_renewal_event(run) -> None:
    result = run(
        [renewal_moved("2026-12-01T10:00:00", "001GLBX", "2027-02-15", 1)],
        until="2027-01-05T00:00:00",
    )
    [moved] = [s for s in result.steps if s.line.source == "salesforce"]
    assert [a["idempotency_key"] for a in moved.actions] == [
        "renewal-start:globex:2027-02-15",
        "renewal-start:globex:2027-02-15:ae",
    ]
    assert "Globex renews on 2027-02-15, in 76 days" in moved.actions[0]["reason"]
    # The old date's timer is gone: nothing starts on 2026-12-31 for 2027-04-30.
    assert [k for _kind, k, *_ in renewal(result) if "globex" in k] == [
        "renewal-start:globex:2027-02-15",
        "renewal-start:globex:2027-02-15:ae",
    ]


def test_a_date_moved_out_of_the_window_waits_for_its_new_first_day(run) -> None:
    result = run(
        [renewal_moved("2026-12-01T10:00:00", "001GLBX", "2027-06-30", 1)],
        until="2027-03-03T00:00:00",
    )
    globex = [(k, when) for _kind, k, _to, _nb, when in renewal(result) if "globex" in k]
    assert globex == [
        ("renewal-start:globex:2027-06-30", "2027-03-02T07:00:00Z"),
        ("renewal-start:globex:2027-06-30:ae", "2027-03-02T07:00:00Z"),
    ]


def test_a_tick_delivered_twice_starts_nothing_twice(run) -> None:
    tick = line(at("2026-12-31T07:00:00"), "tick", {"job": "renewal-process"})
    result = run([quiet("2026-12-28T09:00:00"), tick, tick], until="2027-01-02T00:00:00")
    assert [k for _kind, k, *_ in renewal(result)] == [
        "renewal-start:globex:2027-04-30",
        "renewal-start:globex:2027-04-30:ae",
    ]


def test_a_renewal_closing_does_not_make_its_close_day_the_next_renewal(run) -> None:
    closed = json.loads(renewal_moved("2026-12-03T10:00:00", "001GLBX", "2026-12-03", 2))
    closed["payload"]["payload"].update(StageName="Closed Won", IsClosed=True)
    closed["payload"]["payload"]["ChangeEventHeader"]["changedFields"] += ["StageName", "IsClosed"]
    result = run([json.dumps(closed)], until="2026-12-05T00:00:00")
    globex = result.state["accounts"]["globex"]
    assert globex["renewal_date"] == "2027-04-30" and globex["renewal_stage"] == "Closed Won"
    assert [key for _kind, key, *_ in renewal(result) if "globex" in key] == []
    assert any("the renewal date stays 2027-04-30 until the next renewal" in n for n in result.steps[0].notes)
