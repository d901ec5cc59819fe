"""One re-plan path (design §5): ``replan`` re-draws an absence's plan from the state as it
is, and only the differences are told. Driven on the embedded store through ``process``,
as the renewal, health and Deel handlers call it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.book import ACCOUNTS
from shared.handlers import ABSENCES, COVERAGE_PLANS
from shared.handlers.coverage import replan
from shared.handlers.overlay import PendingView
from shared.processing import OUTBOX, Decision, Put
from shared.store import Where
from tests.functional.ooo_world import (
    ABSENCE,
    NOW,
    deliver_due,
    open_store,
    pto,
    run_in_transaction,
    sender,
    summary,
)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, book_data, policy):
    yield from open_store(monkeypatch, book_data, policy)


@pytest.fixture
def send(monkeypatch: pytest.MonkeyPatch):
    return sender(monkeypatch)


def test_re_deriving_an_unchanged_plan_sends_nothing_and_cancels_nothing(store, send, policy) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    deliver_due(store)  # some told, some (the Slack status, the customer notice) still pending
    before = store.dump()
    later = NOW + timedelta(days=1)
    result = run_in_transaction(
        store, lambda view, now: replan(view, policy, ABSENCE, now, because="nothing really"), later, "r1"
    )
    assert result.new_actions == []
    assert result.decision is not None and result.decision.actions  # re-derived, all known
    after = store.dump()
    assert after[OUTBOX] == before[OUTBOX]
    assert after[COVERAGE_PLANS] == before[COVERAGE_PLANS]


def test_an_unknown_absence_or_one_of_someone_not_a_ta_has_nothing_to_re_plan(store, send, policy) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z", who="alex@example.com", absence="pto-alex"))
    for absence in ("pto-nobody", "pto-alex"):
        result = run_in_transaction(
            store, lambda view, now, a=absence: replan(view, policy, a, now), NOW, absence
        )
        assert result.new_actions == [] and result.decision is not None
        assert result.decision.changes == []
    assert store.get(COVERAGE_PLANS, "pto-alex") is None


def test_an_absence_that_is_over_is_left_as_it_was(store, send, policy) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    before = store.dump()
    result = run_in_transaction(
        store, lambda view, now: replan(view, policy, ABSENCE, now), NOW + timedelta(days=30), "late"
    )
    assert result.new_actions == [] and result.decision is not None
    assert result.decision.notes == ["time off pto-ana-1 is over: nothing to re-plan"]
    assert store.dump()[OUTBOX] == before[OUTBOX]


def test_a_pending_view_reads_the_changes_of_the_same_decision(store) -> None:
    acme = store.get(ACCOUNTS, "acme")

    def decide(view, now):
        moved = {**acme, "renewal_date": "2027-06-30"}
        pending = PendingView(view, [Put(ACCOUNTS, "acme", moved), Put(ABSENCES, "x", {"ends_at": "9"})])
        assert pending.get(ACCOUNTS, "acme")["renewal_date"] == "2027-06-30"
        assert view.get(ACCOUNTS, "acme")["renewal_date"] == "2026-12-18"
        mine = pending.query(ACCOUNTS, Where("ta", "==", "ana@example.com"))
        assert [(i, d["renewal_date"]) for i, d in mine] == [("acme", "2027-06-30"), ("globex", "2027-04-30")]
        assert pending.query(ACCOUNTS, Where("renewal_date", "<", "2027-01-01")) == []
        assert [i for i, _ in pending.query(ABSENCES, Where("ends_at", ">", "1"))] == ["x"]
        assert len(pending.query(ACCOUNTS, limit=1)) == 1
        return Decision()

    run_in_transaction(store, decide, NOW, "pending")


def test_a_renewal_moved_into_the_absence_adds_the_account_and_tells_just_that(store, send, policy) -> None:
    umbrella = {
        **store.get(ACCOUNTS, "globex"),
        "id": "umbrella",
        "name": "Umbrella",
        "salesforce_id": "001UMB",
        "vitally_id": "vit-umbrella",
        "health_category": "green",
        "lighthouse_active": False,
        "save_plan": None,
        "renewal_date": "2027-03-01",
        "champions": ["kim@umbrella.test"],
    }
    store.put(ACCOUNTS, "umbrella", umbrella)
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    deliver_due(store)
    because = "Umbrella's renewal moved into the absence"

    def renewal_moved(view, now):
        moved = [Put(ACCOUNTS, "umbrella", {**umbrella, "renewal_date": "2026-12-16"})]
        return replan(PendingView(view, moved), policy, ABSENCE, now, because=because)

    monday = NOW + timedelta(days=1)  # Monday 2026-11-23, 12:00 UTC
    result = run_in_transaction(store, renewal_moved, monday, "renewal-moved")
    assert summary(result.new_actions) == [
        ("email.send", ("kim@umbrella.test",), "2026-12-09T08:00:00+00:00"),  # its customers, 5 days ahead
        ("gmail.vacation", ("ana@example.com",), None),  # the autoresponder names Umbrella's cover
        ("slack.message", ("alex@example.com",), "2026-11-23T14:00:00+00:00"),  # its AE, 09:00 in New York
        ("slack.message", ("ana@example.com",), None),  # the TA
        ("slack.message", ("ben@example.com",), "2026-11-23T17:00:00+00:00"),  # the cover, 09:00 in LA
        ("slack.message", ("mara@example.com",), None),  # the manager
        ("vitally.task", ("ana@example.com",), None),  # resolve Umbrella's items before leaving
    ]
    ta = next(
        a for a in result.new_actions if a.recipients == ["ana@example.com"] and a.kind == "slack.message"
    )
    assert ta.reason == f"Ana Ruiz's coverage plan changed: {because}"
    assert ta.text.startswith(
        f"What changed: {because}. Umbrella now needs cover: renews 2026-12-16, inside the absence."
    )
    cancelled = [d for _, d in store.query(OUTBOX) if d["status"] == "cancelled"]
    assert cancelled == []  # the customer notices already waiting for Acme stay as they are
    assert "umbrella" in {i["account_id"] for i in store.get(COVERAGE_PLANS, ABSENCE)["items"]}


def _customer_notices(store) -> dict[str, dict]:
    return {
        i: d
        for i, d in store.dump()[OUTBOX].items()
        if ":customer-notice:" in str(d.get("idempotency_key")) and d.get("status") != "skipped"
    }


def test_a_pending_customer_notice_stands_as_decided_when_the_plan_is_re_drawn(store, send, policy) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    notices = _customer_notices(store)
    assert notices and all(d["status"] == "pending" for d in notices.values())
    later = NOW + timedelta(days=3)  # composed again now, its review hold would end later
    result = run_in_transaction(
        store, lambda view, now: replan(view, policy, ABSENCE, now, because="again"), later, "again"
    )
    assert result.decision is not None and result.new_actions == []
    derived = {a.id: a.model_dump(mode="json") for a in result.decision.actions if a.id in notices}
    assert set(derived) == set(notices)
    for notice_id, stored in notices.items():
        assert derived[notice_id]["review_until"] == stored["review_until"]
    assert _customer_notices(store) == notices


def test_an_account_marked_do_not_contact_since_loses_its_pending_notice_on_a_re_plan(
    store, send, policy
) -> None:
    send(pto("APPROVED", "2026-11-21T09:00:00Z"))
    notices = _customer_notices(store)
    [(notice_id, notice)] = [(i, d) for i, d in notices.items() if d["account_id"] == "acme"]
    store.put(ACCOUNTS, "acme", {**store.get(ACCOUNTS, "acme"), "do_not_contact": True})
    run_in_transaction(
        store, lambda view, now: replan(view, policy, ABSENCE, now, because="acme opted out"), NOW, "dnc"
    )
    assert store.get(OUTBOX, notice_id)["status"] == "cancelled"
    skipped = [
        d
        for d in store.dump()[OUTBOX].values()
        if d.get("idempotency_key") == notice["idempotency_key"] + ":skipped"
    ]
    assert len(skipped) == 1 and "do_not_contact" in skipped[0]["reason"]
