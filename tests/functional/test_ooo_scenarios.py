"""Coverage plans that follow the world, replayed: Deel webhook bodies through the real
dispatcher on a simulated clock, Cloud Scheduler simulated (so deferred actions are
delivered when due), and the exact actions of each step.

The team: examples/book.json plus Cara Diaz (TA, Madrid), so Ana Ruiz (TA, Berlin) has
two named peers, Ben Cho (Los Angeles) and Cara; Mara Okafor (London) manages all three.
Ana owns Acme Corp (renews 2026-12-18; AE Alex, CE Cole, IE Ivy who has no Slack; the
champion jo@acme.test) and Globex (red, Lighthouse; AE Alex; a shared Slack channel).
Ana is away 2026-12-14 to 2026-12-18: Ben covers Acme (largest ARR, first by email), Cara
Globex.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.book import parse_book
from shared.handlers import COVERAGE_PLANS
from shared.replay import ReplayResult, Step, replay

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
UNTIL = datetime(2026, 12, 31, tzinfo=UTC)


@pytest.fixture
def book(book_data: dict[str, Any]):
    book_data["people"].append(
        {
            "email": "cara@example.com",
            "name": "Cara Diaz",
            "role": "TA",
            "manager": "mara@example.com",
            "timezone": "Europe/Madrid",
            "slack_id": "U0CARA",
            "coverage_peers": ["ana@example.com"],
        }
    )
    for person in book_data["people"]:
        if person["email"] == "ana@example.com":
            person["coverage_peers"] = ["ben@example.com", "cara@example.com"]
    for account in book_data["accounts"]:
        if account["id"] == "globex":
            account["slack_channel"] = "C0GLBX"
    return parse_book(book_data)


def deel(
    at: str,
    status: str,
    start: str,
    end: str,
    who: str = "ana@example.com",
    absence: str = "pto-ana-1",
    event_type: str = "time-off.reviewed",
) -> str:
    """A replay line: the Deel webhook body for ``who``'s time off, sent at ``at``."""
    body = json.loads((EVENTS / "deel_time_off_reviewed_approved.json").read_text())
    body["data"]["meta"]["event_type"] = event_type
    body["data"]["resource"].update(id=absence, status=status, start_date=start, end_date=end, updated_at=at)
    body["data"]["resource"]["requester"]["work_email"] = who
    return json.dumps({"at": at, "source": "deel", "payload": body})


ANA_APPROVED = deel("2026-11-23T09:00:00Z", "APPROVED", "2026-12-14", "2026-12-18")
BEN_AWAY = deel("2026-11-24T09:00:00Z", "APPROVED", "2026-12-16", "2026-12-31", "ben@example.com", "pto-ben")


def run(book, policy, *lines: str) -> ReplayResult:
    return replay(lines, book, policy, scheduler=True, until=UNTIL)


def step(result: ReplayResult, number: int) -> Step:
    return next(s for s in result.steps if s.line.number == number)


def told(step: Step, absence: str | None = None) -> list[tuple[str, str, str | None]]:
    """(kind, to whom, not before) of each new action of ``step``, in the order decided."""
    return [
        (a["kind"], ", ".join(a["recipients"]) or a.get("channel"), a["not_before"])
        for a in step.actions
        if absence is None or a.get("absence_id") == absence
    ]


def action(result: ReplayResult, key_part: str, recipient: str) -> dict[str, Any]:
    """The latest action whose key holds ``key_part``, to ``recipient`` (or its channel)."""
    found = [
        a
        for a in result.actions
        if key_part in a["idempotency_key"] and recipient in [*a["recipients"], a.get("channel")]
    ]
    return max(found, key=lambda a: a["at"])


def covers(result: ReplayResult) -> dict[str, str]:
    plan = result.state[COVERAGE_PLANS]["pto-ana-1"]
    return {item["account_id"]: item["cover"] for item in plan["items"]}


def test_a_cover_who_goes_away_is_replaced_by_a_free_peer_and_the_ta_and_both_covers_are_told(
    book, policy
) -> None:
    result = run(book, policy, ANA_APPROVED, BEN_AWAY)
    # Ben's own plan goes out as any plan; Ana's plan, shared a day earlier, is re-planned:
    # Cara takes Acme. Each person hears once, routed, in their working hours.
    assert told(step(result, 2), "pto-ana-1") == [
        ("slack.message", "ana@example.com", None),  # the TA: the plan, with what changed
        ("slack.message", "mara@example.com", None),  # her manager
        ("slack.message", "alex@example.com", "2026-11-24T14:00:00Z"),  # 09:00 in New York
        ("slack.message", "cole@example.com", None),
        ("email.send", "ivy@example.com", None),
        ("slack.message", "cara@example.com", None),  # the new cover (10:00 in Madrid)
        ("gmail.vacation", "ana@example.com", None),  # the autoresponder names the new cover
        ("email.send", "jo@acme.test", "2026-12-09T08:00:00Z"),  # the notice, with the new cover
        ("slack.message", "ben@example.com", "2026-11-24T17:00:00Z"),  # the old cover, 09:00 in LA
    ]
    assert covers(result) == {"acme": "cara@example.com", "globex": "cara@example.com"}
    assert result.state[COVERAGE_PLANS]["pto-ana-1"]["covers"] == ["cara@example.com"]
    change = "Cara Diaz covers Acme Corp in place of Ben Cho, who is away 2026-12-16 to 2026-12-31."
    ta = action(result, ":plan:shared:", "ana@example.com")
    assert ta["reason"] == f"Ana Ruiz's coverage plan changed: {change.rstrip('.')}"
    assert ta["text"].startswith(f"What changed: {change}\nCoverage plan for Ana Ruiz")
    new = action(result, ":cover:", "cara@example.com")
    assert new["reason"] == "you cover 2 accounts for Ana Ruiz, now including Acme Corp"
    assert (
        "- Acme Corp: renews 2026-12-18, inside the absence (in place of Ben Cho, who is away" in new["text"]
    )
    old = action(result, ":removed:", "ben@example.com")
    assert old["reason"] == "Ana Ruiz's coverage plan changed: you no longer have accounts in it"
    assert old["text"].startswith(f"What changed: {change}")
    # The customer notice naming Ben had not gone out yet: it is replaced, not corrected.
    notices = [a for a in result.actions if ":acme:customer-notice:" in a["idempotency_key"]]
    assert [(a["idempotency_key"].rsplit(":", 1)[1], a["status"]) for a in notices] == [
        ("ben@example.com", "cancelled"),
        ("cara@example.com", "delivered"),
    ]
    assert notices[1]["body"].startswith("Hi Acme Corp team, a heads-up: Ana Ruiz is out of office")


def test_when_every_peer_is_away_the_manager_covers(book, policy) -> None:
    cara_away = deel(
        "2026-11-25T09:00:00Z", "APPROVED", "2026-12-15", "2026-12-20", "cara@example.com", "pto-cara"
    )
    result = run(book, policy, ANA_APPROVED, BEN_AWAY, cara_away)
    assert covers(result) == {"acme": "mara@example.com", "globex": "mara@example.com"}
    assert told(step(result, 3), "pto-ana-1") == [
        ("slack.message", "ana@example.com", None),
        ("slack.message", "mara@example.com", None),  # the plan to the manager, as reviewer
        ("slack.message", "alex@example.com", "2026-11-25T14:00:00Z"),
        ("slack.message", "cole@example.com", None),
        ("email.send", "ivy@example.com", None),
        ("slack.message", "mara@example.com", None),  # ... and her accounts, as the cover
        ("gmail.vacation", "ana@example.com", None),
        ("email.send", "jo@acme.test", "2026-12-09T08:00:00Z"),
        ("slack.message", "C0GLBX", "2026-12-09T08:00:00Z"),
        ("slack.message", "cara@example.com", None),  # the old cover
    ]
    manager = action(result, ":cover:", "mara@example.com")
    assert manager["reason"] == "you cover 2 accounts for Ana Ruiz, now including Acme Corp and Globex"
    assert (
        "plan pto-ana-1: re-planned: Mara Okafor covers Acme Corp and Globex in place of Cara Diaz, "
        "who is away 2026-12-15 to 2026-12-20." in step(result, 3).notes
    )


def test_a_cover_whose_time_off_is_cancelled_gets_nothing_back_and_nobody_is_told_again(book, policy) -> None:
    ben_cancels = deel(
        "2026-11-25T09:00:00Z",
        "CANCELED",
        "2026-12-16",
        "2026-12-31",
        "ben@example.com",
        "pto-ben",
        "time-off.updated",
    )
    ana_moves = deel(
        "2026-11-26T09:00:00Z", "APPROVED", "2026-12-14", "2026-12-17", event_type="time-off.updated"
    )
    result = run(book, policy, ANA_APPROVED, BEN_AWAY, ben_cancels, ana_moves)
    assert told(step(result, 3), "pto-ana-1") == []  # only Ben's own plan is withdrawn
    # A later re-plan (Ana shortens her time off) keeps Cara on Acme: Ben is free again,
    # but Cara was told and covers; nothing is handed back.
    assert covers(result) == {"acme": "cara@example.com", "globex": "cara@example.com"}
    assert not any(a["recipients"] == ["ben@example.com"] for a in step(result, 4).actions)


def test_a_moved_absence_replaces_its_task_and_its_messages_say_moved_from(book, policy) -> None:
    moved = deel(
        "2026-11-30T09:00:00Z", "APPROVED", "2026-12-15", "2026-12-21", event_type="time-off.updated"
    )
    result = run(book, policy, ANA_APPROVED, moved)
    assert told(step(result, 2)) == [
        ("slack.message", "ana@example.com", None),
        ("slack.message", "mara@example.com", None),
        ("slack.message", "alex@example.com", "2026-11-30T14:00:00Z"),
        ("slack.message", "cole@example.com", None),
        ("email.send", "ivy@example.com", None),
        ("slack.message", "ben@example.com", "2026-11-30T17:00:00Z"),
        ("slack.message", "cara@example.com", None),
        ("vitally.task", "ana@example.com", None),  # one task for the new dates
        ("calendar.review", "ana@example.com", None),
        ("gmail.vacation", "ana@example.com", None),
        ("slack.status", "ana@example.com", "2026-12-14T23:00:00Z"),
        ("email.send", "jo@acme.test", "2026-12-10T08:00:00Z"),
        ("slack.message", "C0GLBX", "2026-12-10T08:00:00Z"),
    ]
    moved_from = "Ana Ruiz's time off moved from 2026-12-14–2026-12-18 to 2026-12-15–2026-12-21"
    reasons = [a["reason"] for a in step(result, 2).actions]
    assert reasons[:2] == [f"{moved_from} (approved)"] * 2
    assert all("logged time off" not in r for r in reasons)
    assert reasons[2] == f"{moved_from}; 2 of your accounts are covered"
    tasks = [
        a for a in result.actions if a["kind"] == "vitally.task" and a["idempotency_key"].startswith("ooo:")
    ]
    assert [(t["due_date"], t["status"]) for t in tasks] == [
        ("2026-12-11", "delivered"),
        ("2026-12-14", "delivered"),
    ]
    assert (
        tasks[1]["name"]
        == "Resolve pending action items before OOO (2026-12-15), replaces the task due 2026-12-11"
    )
    assert tasks[1]["reason"].endswith("before you leave (replaces the task due 2026-12-11)")
    # What had not gone out (the Slack status, the customer notices) is replaced, not doubled.
    pending_then = [a for a in result.actions if a["status"] == "cancelled"]
    assert sorted(a["kind"] for a in pending_then) == ["email.send", "slack.message", "slack.status"]


def test_a_move_after_the_customer_notice_went_out_corrects_it_in_the_customers_words(book, policy) -> None:
    moved = deel(
        "2026-12-10T10:00:00Z", "APPROVED", "2026-12-15", "2026-12-21", event_type="time-off.updated"
    )
    result = run(book, policy, ANA_APPROVED, moved)
    notice = action(result, ":acme:customer-notice:2026-12-15:2026-12-21:", "jo@acme.test")
    # Held for review (24 hours), like every customer email; the 3-day gap after the first
    # notice (9 December) gives way, as the customers expect Ana away from the 14th.
    assert notice["not_before"] == "2026-12-11T10:00:00Z" and notice["status"] == "delivered"
    assert notice["reason"] == (
        "Acme Corp told of the change: Ana Ruiz's time off moved from 2026-12-14–2026-12-18 to "
        "2026-12-15–2026-12-21; inside 3 days of the out-of-office notice of 2026-12-09, as it must "
        "arrive before 2026-12-13 23:00 UTC"
    )
    assert notice["body"].startswith(
        "Hi Acme Corp team, an update to our earlier note: Ana Ruiz is now out of office from "
        "2026-12-15 to 2026-12-21 (instead of 2026-12-14 to 2026-12-18). "
        "Ben Cho (ben@example.com) is covering for your account in the meantime.\n\n"
        "The Technical Advisor team\n"
    )


def test_a_cancellation_after_the_customer_notice_tells_customers_in_their_words(book, policy) -> None:
    cancelled = deel(
        "2026-12-10T10:00:00Z", "CANCELED", "2026-12-14", "2026-12-18", event_type="time-off.updated"
    )
    result = run(book, policy, ANA_APPROVED, cancelled)
    assert told(step(result, 2)) == [
        ("slack.message", "alex@example.com", None),
        ("slack.message", "ana@example.com", None),
        ("slack.message", "ben@example.com", None),
        ("slack.message", "cara@example.com", None),
        ("slack.message", "cole@example.com", None),
        ("email.send", "ivy@example.com", None),
        ("slack.message", "mara@example.com", None),
        # Held for review until Friday 11:00 in Berlin (Ana's working hours); the 3-day gap
        # after the notice of 9 December gives way, as customers expect Ana away on the 14th.
        ("email.send", "jo@acme.test", "2026-12-11T10:00:00Z"),
        ("slack.message", "C0GLBX", None),  # the shared channel that was told
        ("gmail.vacation", "ana@example.com", None),
    ]
    to_customer = action(result, ":acme:customer-withdrawn", "jo@acme.test")
    words = (
        "an update to our earlier note: Ana Ruiz is no longer out of office from 2026-12-14 to "
        "2026-12-18, so nothing changes for you: Ana Ruiz remains your contact as usual."
    )
    assert to_customer["body"].startswith(f"Hi Acme Corp team, {words}\n\n")
    assert f"<p>Hi Acme Corp team, {words}</p>" in to_customer["html"]
    assert (to_customer["to"], to_customer["cc"]) == (["jo@acme.test"], ["ana@example.com"])
    assert action(result, ":globex:customer-withdrawn", "C0GLBX")["text"] == f"Hi Globex team, {words}"
    internal = [a for a in step(result, 2).actions if a["idempotency_key"].endswith(":withdrawn")]
    assert all(a["recipients"][0].endswith("@example.com") for a in internal)
    assert step(result, 2).notes == [
        "plan withdrawn (cancelled): 1 pending action cancelled, 7 people told, customers of 2 accounts told"
    ]
