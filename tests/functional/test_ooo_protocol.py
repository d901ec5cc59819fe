"""The OOO protocol on the embedded store, driven by Deel-shaped events through the real
on_pto_logged entry point: the plan's accounts, reasons and covers, and the exact actions.
The world (book, events, delivery) is tests/functional/ooo_world.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from functions_framework import create_app

from shared.handlers import ABSENCES, COVERAGE_PLANS
from shared.processing import DEAD_LETTERS, OUTBOX, PROCESSED
from tests.functional.ooo_world import (
    ABSENCE,
    ROOT,
    deleted,
    deliver_due,
    kinds,
    live,
    open_store,
    pto,
    run_pto,
    sender,
)
from tests.pubsub_events import cloud_event


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, book_data, policy):
    yield from open_store(monkeypatch, book_data, policy)


@pytest.fixture
def send(monkeypatch: pytest.MonkeyPatch):
    return sender(monkeypatch)


def test_a_request_sends_a_draft_plan_to_the_ta_and_manager_only(store, send) -> None:
    send(pto("REQUESTED", "2026-11-20T09:00:00Z"))
    plan = store.get(COVERAGE_PLANS, ABSENCE)
    assert plan["status"] == "draft"
    assert kinds(live(store)) == [  # one message each, by Slack
        ("slack.message", ("ana@example.com",)),
        ("slack.message", ("mara@example.com",)),
    ]
    dm = next(a for a in live(store).values() if a["kind"] == "slack.message")
    assert dm["text"].startswith("Draft coverage plan for Ana Ruiz")
    assert [b["type"] for b in dm["blocks"]] == ["header", "section", "section"]
    assert "Acme Corp" in dm["blocks"][2]["text"]["text"] and dm["text"]  # the table, and the fallback


def test_approval_shares_the_plan_with_every_action_the_protocol_names(store, send) -> None:
    send(pto("REQUESTED", "2026-11-20T09:00:00Z"))
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    plan = store.get(COVERAGE_PLANS, ABSENCE)
    assert plan["status"] == "shared"
    assert plan["start"] == "2026-12-13T23:00:00Z" and plan["end"] == "2026-12-18T23:00:00Z"
    assert plan["items"] == [
        {"account_id": "acme", "reasons": ["renewing"], "cover": "ben@example.com"},
        {"account_id": "globex", "reasons": ["lighthouse"], "cover": "ben@example.com"},
    ]
    actions = live(store)
    assert kinds(actions) == [
        ("calendar.review", ("ana@example.com",)),
        ("email.send", ("ivy@example.com",)),  # no Slack id in the directory: email instead
        ("email.send", ("jo@acme.test",)),
        ("gmail.vacation", ("ana@example.com",)),
        ("slack.message", ("alex@example.com",)),
        ("slack.message", ("ana@example.com",)),
        ("slack.message", ("ben@example.com",)),
        ("slack.message", ("cole@example.com",)),
        ("slack.message", ("mara@example.com",)),
        ("slack.status", ("ana@example.com",)),
        ("vitally.task", ("ana@example.com",)),
    ]
    by_kind = {a["kind"]: a for a in actions.values()}
    assert by_kind["slack.status"]["not_before"] == "2026-12-13T23:00:00Z"  # Monday 00:00 in Berlin
    assert by_kind["slack.status"]["status_expiration"] == int(
        datetime(2026, 12, 18, 23, tzinfo=UTC).timestamp()
    )
    assert by_kind["vitally.task"]["due_date"] == "2026-12-11"  # the working day before
    assert by_kind["vitally.task"]["account_id"] == "acme"
    notice = next(a for a in actions.values() if a["recipients"] == ["jo@acme.test"])
    # five days ahead, in Ana's working hours: 09:00 in Berlin, not midnight
    assert notice["not_before"] == "2026-12-09T08:00:00Z"
    assert "ben@example.com" in by_kind["gmail.vacation"]["body"]
    alex = next(a for a in actions.values() if a["recipients"] == ["alex@example.com"])
    assert "Acme Corp" in alex["text"] and "Globex" in alex["text"]
    assert all(a["reason"] for a in actions.values())
    # the draft messages were never sent and the final plan replaces them
    cancelled = [d for _, d in store.query(OUTBOX) if d["status"] == "cancelled"]
    assert len(cancelled) == 2


def test_every_event_twice_and_an_older_one_late_change_nothing_further(store, send) -> None:
    approved = pto("APPROVED", "2026-11-21T09:00:00Z")
    send(approved)
    before = store.dump()
    send(approved)
    send(pto("REQUESTED", "2026-11-20T09:00:00Z"))  # older than the approval
    after = store.dump()
    assert after[OUTBOX] == before[OUTBOX]
    assert after[COVERAGE_PLANS] == before[COVERAGE_PLANS]
    outcomes = sorted(d["outcome"] for _, d in store.query(PROCESSED))
    assert outcomes == ["applied", "stale"]


def test_new_dates_re_plan_and_replace_only_what_the_dates_changed(store, send) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    first = live(store)
    send(
        pto(
            "APPROVED",
            "2026-11-25T09:00:00Z",
            start="2026-12-21",
            end="2026-12-23",
            event_type="time-off.updated",
        )
    )
    second = live(store)
    plan = store.get(COVERAGE_PLANS, ABSENCE)
    # Acme renews 2026-12-18, before the new window and outside its margin; Globex still needs cover.
    assert plan["items"] == [{"account_id": "globex", "reasons": ["lighthouse"], "cover": "ben@example.com"}]
    assert not set(first) & {k for k in second if "2026-12-21" in k and "slack-status" in k}
    assert all(":2026-12-14:" not in k for k in second)  # nothing for the old dates is left pending
    assert any("2026-12-21:2026-12-23" in k for k in second)
    assert "acme" not in {a["account_id"] for a in second.values()}


def test_a_cancellation_withdraws_what_is_pending_and_tells_who_was_told(store, send) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    for doc_id, doc in store.query(OUTBOX):  # pretend delivery ran for the immediate ones
        if doc["not_before"] is None:
            store.put(OUTBOX, doc_id, {**doc, "status": "delivered"})
    send(pto("CANCELED", "2026-12-01T09:00:00Z", event_type="time-off.updated"))
    assert store.get(COVERAGE_PLANS, ABSENCE)["status"] == "withdrawn"
    pending = live(store)
    assert {a["kind"] for a in pending.values()} == {"slack.message", "email.send", "gmail.vacation"}
    told = {a["recipients"][0] for a in pending.values() if a["kind"] != "gmail.vacation"}
    assert told == {
        "ana@example.com",
        "mara@example.com",
        "alex@example.com",
        "cole@example.com",
        "ivy@example.com",
        "ben@example.com",
    }
    off = next(a for a in pending.values() if a["kind"] == "gmail.vacation")
    assert off["enable"] is False
    deferred = [d for _, d in store.query(OUTBOX) if d["not_before"] is not None]
    assert deferred and all(d["status"] == "cancelled" for d in deferred)  # Slack status, customer notice


def test_a_deletion_repeated_sends_and_cancels_nothing_and_says_so(store, send, policy) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    deliver_due(store)
    send(deleted(timestamp="2026-11-30T10:00:00.000Z"))
    first = {k: a["status"] for k, a in live(store).items()}
    assert sorted(k.rsplit(":", 1)[1] for k in first) == ["vacation-off", *["withdrawn"] * 6]
    # Deel sends the deletion again (a new delivery, a new timestamp) before those went out.
    result = run_pto(store, policy, deleted(timestamp="2026-11-30T11:00:00.000Z"))
    assert result.new_actions == []
    assert result.decision is not None
    assert result.decision.notes == ["plan already withdrawn (cancelled): nothing more to cancel or send"]
    assert {k: a["status"] for k, a in live(store).items()} == first  # still to be sent, not cancelled


def test_wording_agrees_in_number_and_says_each_reason_once(store, send) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    by_person = {a["recipients"][0]: a for a in live(store).values() if a["recipients"]}
    assert by_person["cole@example.com"]["reason"] == "Ana Ruiz is away; 1 of your accounts is covered"
    assert by_person["alex@example.com"]["reason"] == "Ana Ruiz is away; 2 of your accounts are covered"
    cover = by_person["ben@example.com"]
    assert cover["reason"] == "you cover 2 accounts for Ana Ruiz"
    assert "- Acme Corp: renews 2026-12-18, inside the absence\n" in cover["text"]
    assert cover["text"].count("2026-12-18") == 2  # the window's last day, and Acme's renewal once


def test_a_rejected_request_withdraws_the_draft(store, send) -> None:
    send(pto("REQUESTED", "2026-11-20T09:00:00Z"))
    send(pto("REJECTED", "2026-11-21T09:00:00Z"))
    assert store.get(COVERAGE_PLANS, ABSENCE)["status"] == "withdrawn"
    assert live(store) == {}


def test_a_deletion_after_approval_withdraws_the_plan(store, send) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    send(deleted())
    assert store.get(COVERAGE_PLANS, ABSENCE)["status"] == "withdrawn"
    assert store.get(ABSENCES, ABSENCE)["status"] == "CANCELED"
    assert live(store) == {}


def test_a_peer_who_is_away_is_never_the_cover_and_the_manager_steps_in(store, send) -> None:
    send(
        pto(
            "APPROVED",
            "2026-11-10T09:00:00Z",
            start="2026-12-16",
            end="2026-12-31",
            who="ben@example.com",
            absence="pto-ben",
        )
    )
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    plan = store.get(COVERAGE_PLANS, ABSENCE)
    assert {i["cover"] for i in plan["items"]} == {"mara@example.com"}


def test_someone_who_is_not_a_ta_is_recorded_without_a_plan(store, send) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z", who="alex@example.com", absence="pto-alex"))
    assert store.get(ABSENCES, "pto-alex")["person"] == "alex@example.com"
    assert store.get(COVERAGE_PLANS, "pto-alex") is None
    assert store.query(OUTBOX) == []


def test_an_unknown_requester_is_acknowledged_and_kept(store, send) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z", who="stranger@example.com", absence="pto-x"))
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert "stranger@example.com is not in the directory" in kept["reason"]
    assert store.get(ABSENCES, "pto-x") is None


@pytest.mark.parametrize(
    ("who", "start", "end"),
    [("ana@example.com", "2026-12-14", "9999-12-31"), ("ana@example.com", "0001-01-01", "2026-12-18")],
)
def test_dates_at_the_edge_of_the_calendar_are_acknowledged_and_kept_not_retried(
    store, who: str, start: str, end: str
) -> None:
    # An event published before the webhook refused such dates still reaches the consumer.
    approved = pto("APPROVED", "2026-11-21T09:00:00Z")
    event = approved.model_copy(
        update={"payload": {**approved.payload, "start_date": start, "end_date": end}}
    )
    app = create_app("on_pto_logged", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(event.to_json(), "pto-logged", event.attributes())
    assert app.post("/", headers=headers, data=body).status_code == 200
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert kept["event_id"] == event.event_id and "time off pto-ana-1" in kept["reason"]
    assert store.query(PROCESSED) == [] and store.get(COVERAGE_PLANS, ABSENCE) is None
