"""Scaled Success on the replay clock: the quarterly call offer and the monthly usage
recap, each once per period whatever the ticks, through the one customer email path
(review hold, gap, working hours, do_not_contact, cancel).

The book is examples/book.json plus three unmanaged accounts (Commercial, at or above
$100k ARR): Hooli (Ben Cho's, Los Angeles; 2 releases behind on 6.0; champion Gavin),
Pied Piper (Ana Ruiz's, Berlin; up to date; champion Richard) and Vandelay (Ana's,
4 behind, marked do_not_contact). The bundled policy: 24 hours of review, 3 days between
two customer emails, the releases 6.0 (Aug) to 6.4 (Dec 9) and their content.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from shared.book import parse_book
from shared.bootstrap import Context
from shared.cadences import cadence, due_event
from shared.cli import main as taops
from shared.delivery import deliver
from shared.dispatch import dispatch
from shared.models import action_id
from shared.outbox import relay
from shared.processing import OUTBOX
from shared.replay import ReplayResult, replay
from shared.sources.senders import build_senders
from shared.store import EmbeddedStore
from tests.gmail_messages import line

ROOT = Path(__file__).resolve().parents[2]
ANA, BEN, ALEX, MARA = "ana@example.com", "ben@example.com", "alex@example.com", "mara@example.com"
GAVIN, RICHARD = "gavin@hooli.test", "richard@piedpiper.test"
GMAIL_SEND = "https://gmail.test/gmail/v1/users/scaled-success%40example.com/messages/send"

UNMANAGED = [
    {
        "id": "hooli",
        "name": "Hooli",
        "ta": BEN,
        "ae": ALEX,
        "champions": [GAVIN],
        "arr": 250000,
        "developers": 800,
        "seats_licensed": 500,
        "seats_used": 430,
        "deployed_version": "6.0",
        "versions_behind": 2,
    },
    {
        "id": "pied-piper",
        "name": "Pied Piper",
        "ta": ANA,
        "ae": ALEX,
        "champions": [RICHARD],
        "arr": 150000,
        "developers": 120,
        "deployed_version": "6.4",
        "versions_behind": 0,
    },
    {
        "id": "vandelay",
        "name": "Vandelay",
        "ta": ANA,
        "ae": ALEX,
        "champions": ["art@vandelay.test"],
        "arr": 180000,
        "developers": 300,
        "versions_behind": 4,
        "do_not_contact": True,
    },
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tick(when: datetime, job: str) -> str:
    return line(when, "tick", {"job": job})


def daily(job: str, first: str, days: int, twice: str | None = None) -> list[str]:
    """A tick of ``job`` every day at 09:00 from ``first``; on ``twice`` it fires twice."""
    out = []
    for n in range(days):
        moment = at(first) + timedelta(days=n)
        out.append(tick(moment, job))
        if twice and moment.date().isoformat() == twice:
            out.append(tick(moment + timedelta(seconds=30), job))
    return out


@pytest.fixture
def book(book_data: dict[str, Any]):
    book_data["accounts"] += json.loads(json.dumps(UNMANAGED))
    return parse_book(book_data)


def emails(result: ReplayResult, cadence: str) -> list[tuple[str, list[str], str, str | None, str]]:
    """(key, recipients, decided at, not before, status) of each customer email of ``cadence``."""
    return [
        (a["idempotency_key"], a["recipients"], a["at"], a["not_before"], a["status"])
        for a in result.actions
        if a.get("cadence") == cadence
    ]


def skipped(result: ReplayResult) -> list[tuple[str, str, str]]:
    return sorted(
        (doc["idempotency_key"], doc["skipped_reason"], doc["reason"])
        for doc in result.state[OUTBOX].values()
        if doc["status"] == "skipped"
    )


def test_each_unmanaged_account_is_offered_a_call_once_per_fiscal_quarter_under_daily_ticks(
    book, policy
) -> None:
    # Daily ticks from Sunday 1 November (the first day of FY2027 Q4) to mid-February,
    # Cloud Scheduler firing twice on 1 February (the first day of FY2028 Q1).
    lines = daily("call-offer", "2026-11-01T09:00:00", 106, twice="2027-02-01")
    result = replay(lines, book, policy)
    assert emails(result, "call-offer") == [
        # Held 24 hours for review, then the TA's working hours: Ben's start at 17:00 UTC
        # (09:00 in Los Angeles), Ana's at 09:00 UTC (10:00 in Berlin).
        ("call-offer:hooli:FY2027-Q4", [GAVIN], "2026-11-01T09:00:00Z", "2026-11-02T17:00:00Z", "delivered"),
        (
            "call-offer:pied-piper:FY2027-Q4",
            [RICHARD],
            "2026-11-01T09:00:00Z",
            "2026-11-02T09:00:00Z",
            "delivered",
        ),
        ("call-offer:hooli:FY2028-Q1", [GAVIN], "2027-02-01T09:00:00Z", "2027-02-02T17:00:00Z", "delivered"),
        (
            "call-offer:pied-piper:FY2028-Q1",
            [RICHARD],
            "2027-02-01T09:00:00Z",
            "2027-02-02T09:00:00Z",
            "delivered",
        ),
    ]
    offer = result.actions[0]
    assert (offer["cadence"], offer["period"], offer["topic"]) == (
        "call-offer",
        "FY2027-Q4",
        "quarterly call offer",
    )
    # The TA and the AE are in the audit trail, not on the email.
    assert (offer["ta"], offer["ae"], offer["to"], offer["cc"]) == (BEN, ALEX, [GAVIN], [])
    assert offer["reason"] == (
        "the 30-minute call with the Technical Advisor team, offered to Hooli's champions once per "
        "fiscal quarter (FY2027-Q4)"
    )
    assert offer["subject"] == "30 minutes with a Technical Advisor this quarter, Hooli?"
    assert offer["body"] == (
        "Hi Hooli team,\n\n"
        "Every quarter we offer each of our customers a 30-minute call with our Technical Advisors. "
        "Bring anything: how your teams use the product, an upgrade you are planning, a question "
        "that has been waiting for the right person.\n\n"
        "Pick a time that suits you, any day until 31 January 2027: "
        "https://example.com/book/scaled-success\n\n"
        "The Technical Advisor team\n"
        "Replies reach the team at technicaladvisors@example.com.\n\n"
        "--\n"
        "You receive this as a contact of Hooli. To receive no more of these emails, write to "
        "unsubscribe@example.com or visit https://example.com/email-preferences?account=hooli.\n"
    )
    assert '<a href="https://example.com/book/scaled-success">Pick a time that suits you</a>' in offer["html"]
    assert offer["headers"] == {
        "List-Unsubscribe": "<mailto:unsubscribe@example.com?subject=unsubscribe%20hooli>, "
        "<https://example.com/email-preferences?account=hooli>"
    }
    assert (offer["sender"], offer["reply_to"]) == (
        "scaled-success@example.com",
        "technicaladvisors@example.com",
    )
    # Vandelay asked not to be contacted: each quarter's skip is kept, once.
    assert [k for k, _, _ in skipped(result)] == [
        "call-offer:vandelay:FY2027-Q4:skipped",
        "call-offer:vandelay:FY2028-Q1:skipped",
    ]


def test_the_usage_recap_goes_monthly_to_accounts_behind_and_never_repeats_content(book, policy) -> None:
    lines = daily("usage-recap", "2026-11-01T09:00:00", 66, twice="2026-12-01")
    result = replay(lines, book, policy)
    # Only Hooli: Pied Piper is up to date, Vandelay is do_not_contact. 1 January is a
    # holiday and a Friday: Ben's next working hour after the review is Monday the 4th.
    assert emails(result, "recap") == [
        ("recap:hooli:2026-11", [GAVIN], "2026-11-01T09:00:00Z", "2026-11-02T17:00:00Z", "delivered"),
        ("recap:hooli:2026-12", [GAVIN], "2026-12-01T09:00:00Z", "2026-12-02T17:00:00Z", "delivered"),
        ("recap:hooli:2027-01", [GAVIN], "2027-01-01T09:00:00Z", "2027-01-04T17:00:00Z", "delivered"),
    ]
    recaps = [a for a in result.actions if a.get("cadence") == "recap"]
    # The releases it misses grow as they ship; each content item goes once, those about
    # the missing releases first, then general enablement, newest first.
    assert [(r["missing_versions"], r["content_ids"]) for r in recaps] == [
        (["6.1", "6.2"], ["code-monitors-blog", "batch-changes-blog", "upgrade-guide"]),
        (["6.1", "6.2", "6.3"], ["admin-analytics-webinar", "precise-nav-video"]),
        (["6.1", "6.2", "6.3", "6.4"], ["search-contexts-blog"]),
    ]
    november = recaps[0]
    assert november["subject"] == "Hooli: your usage recap for November 2026"
    assert november["reason"] == (
        "Hooli is 2 releases behind (deployed: 6.0; the upgrade lag for a recap is 2): "
        "the monthly usage recap for 2026-11"
    )
    assert november["body"].startswith(
        "Hi Hooli team,\n\n"
        "Here is where you stand in November 2026:\n"
        "- Deployed version: 6.0, 2 releases behind the latest (6.2)\n"
        "- Seats in use: 430 of 500\n\n"
        "What the upgrade brings you:\n"
        "- 6.1 (2026-09-16): Batch changes for every code host; Audit log export\n"
        "- 6.2 (2026-10-14): Code monitors on pull requests; SCIM group sync\n\n"
        "Worth a look:\n"
        "- Catch risky changes with code monitors (blog): https://example.com/blog/code-monitors\n"
        "- Batch changes across all your code hosts (blog): https://example.com/blog/batch-changes\n"
        "- Upgrading without downtime (docs): https://example.com/docs/upgrade\n\n"
        "If you would like a hand planning the upgrade, reply to this email.\n"
    )
    assert '<li><a href="https://example.com/blog/code-monitors">Catch risky changes' in november["html"]
    assert (november["deployed_version"], november["versions_behind"]) == ("6.0", 2)
    assert [k for k, _, _ in skipped(result)] == [
        "recap:vandelay:2026-11:skipped",
        "recap:vandelay:2026-12:skipped",
        "recap:vandelay:2027-01:skipped",
    ]


def test_an_offer_and_a_recap_due_the_same_day_do_not_reach_the_customer_together(book, policy) -> None:
    # Cloud Scheduler ticks both on the quarter's first working day, Monday 2 November at
    # 09:00: the offer is decided first and held a day for review (then Ben's working
    # hours); the recap waits three days after the offer goes out.
    result = replay(
        [tick(at("2026-10-31T12:00:00"), "outbox-relay")],
        book,
        policy,
        scheduler=True,
        until=at("2026-11-10T00:00:00"),
    )
    hooli = [
        (a["idempotency_key"], a["not_before"], a["status"])
        for a in result.actions
        if a.get("customer_account") == "hooli"
    ]
    assert hooli == [
        ("call-offer:hooli:FY2027-Q4", "2026-11-03T17:00:00Z", "delivered"),
        ("recap:hooli:2026-11", "2026-11-06T17:00:00Z", "delivered"),
    ]
    recap = next(a for a in result.actions if a["idempotency_key"] == "recap:hooli:2026-11")
    assert recap["reason"].endswith("; waits 3 days after the quarterly call offer of 2026-11-03")


def test_an_account_without_a_ta_is_written_in_the_teams_time_zone(book_data, policy) -> None:
    account = {
        **UNMANAGED[0],
        "id": "globo",
        "name": "Globo Gym",
        "ta": None,
        "champions": ["white@globo.test"],
    }
    book_data["accounts"].append(account)
    result = replay([tick(at("2026-11-01T09:00:00"), "call-offer")], parse_book(book_data), policy)
    # group_mail.time_zone (UTC): the review ends on Monday 09:00, a working hour there.
    assert emails(result, "call-offer") == [
        (
            "call-offer:globo:FY2027-Q4",
            ["white@globo.test"],
            "2026-11-01T09:00:00Z",
            "2026-11-02T09:00:00Z",
            "pending",
        )
    ]


def dispatch_cadence(store: EmbeddedStore, policy, job: str, when: datetime) -> None:
    """What a deployed tick of ``job`` at ``when`` does: each of its dues through the dispatcher."""
    ctx = Context(store, policy)
    for due in cadence(job).due(store, policy, when):
        dispatch(ctx, due_event(due, when), when)


def test_a_recap_cancelled_in_review_gives_its_content_back_to_the_next_one(book, policy, tmp_path) -> None:
    path = tmp_path / "state.json"
    replay([tick(at("2026-11-01T09:00:00"), "usage-recap")], book, policy, store=EmbeddedStore(path))
    cancel = [
        "outbox",
        "cancel",
        action_id("recap:hooli:2026-11"),
        "--by",
        BEN,
        "--reason",
        "told Gavin by phone",
    ]
    assert taops([*cancel, "--store", f"embedded:{path}", "--at", "2026-11-01T15:00:00Z"]) == 0
    store = EmbeddedStore(path)
    dispatch_cadence(store, policy, "usage-recap", at("2026-12-01T09:00:00"))
    december = store.get(OUTBOX, action_id("recap:hooli:2026-12"))
    # November's items never reached Gavin: December shares them, newest first, up to four.
    assert december["content_ids"] == [
        "admin-analytics-webinar",
        "precise-nav-video",
        "code-monitors-blog",
        "batch-changes-blog",
    ]


def gmail_sent() -> dict[str, Any]:
    """users.messages.send's answer: the sent Message resource (id, threadId, labelIds)."""
    return json.loads((ROOT / "tests" / "events" / "gmail_messages_send_response.json").read_text())


def senders() -> dict[str, Any]:
    return build_senders(httpx.Client(), lambda user: "ya29.test", "taops@example.com")


@pytest.fixture
def gmail_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAOPS_GMAIL_API_BASE", "https://gmail.test/gmail/v1")
    monkeypatch.delenv("TAOPS_DELIVERY", raising=False)


@respx.mock
def test_held_emails_are_listed_pending_and_a_cancelled_one_is_never_sent(
    book, policy, tmp_path, capsys, gmail_env
) -> None:
    path = tmp_path / "state.json"
    replay([tick(at("2026-11-01T09:00:00"), "call-offer")], book, policy, store=EmbeddedStore(path))
    store = f"embedded:{path}"
    hooli, pied = action_id("call-offer:hooli:FY2027-Q4"), action_id("call-offer:pied-piper:FY2027-Q4")

    assert taops(["outbox", "--pending", "--store", store]) == 0
    listed = capsys.readouterr().out
    # Soonest first: Pied Piper's (Ana, Berlin) before Hooli's (Ben, Los Angeles).
    assert listed.index(pied) < listed.index(hooli)
    assert (
        f"{hooli}  pending    email.send      {GAVIN}  held until 2026-11-02T17:00:00Z  "
        "[call-offer FY2027-Q4]" in listed
    )
    assert "subject: 30 minutes with a Technical Advisor this quarter, Hooli?" in listed
    assert "2 action(s) pending" in listed and "taops outbox cancel ID --by EMAIL --reason WHY" in listed

    cancel = ["outbox", "cancel", hooli, "--by", BEN, "--reason", "Gavin is on leave until March"]
    assert taops([*cancel, "--store", store, "--at", "2026-11-01T18:00:00Z"]) == 0
    assert f"{hooli} email.send to {GAVIN} (30 minutes with" in capsys.readouterr().out
    doc = EmbeddedStore(path).get(OUTBOX, hooli)
    assert (doc["status"], doc["cancelled_by"], doc["cancel_reason"], doc["cancelled_at"]) == (
        "cancelled",
        BEN,
        "Gavin is on leave until March",
        "2026-11-01T18:00:00Z",
    )
    # Cancelling again changes nothing and says who did it first; a stranger cannot.
    assert taops([*cancel[:4], MARA, "--reason", "again", "--store", store]) == 0
    assert f"was already cancelled by {BEN} (Gavin is on leave until March)" in capsys.readouterr().out
    assert taops([*cancel[:4], "nobody@example.com", "--reason", "x", "--store", store]) == 1
    assert "nobody@example.com is not in the directory" in capsys.readouterr().out

    # Delivery, once the hold is over: the relay publishes what is due, delivery sends it.
    sent = respx.post(GMAIL_SEND).mock(return_value=httpx.Response(200, json=gmail_sent()))
    state = EmbeddedStore(path)
    published: list[str] = []
    later = at("2026-11-03T09:00:00")
    relay(state, later, lambda data, attributes: published.append(attributes["action_id"]) or "m1")
    assert published == [pied]
    for action in (pied, hooli):  # Hooli's as if its message had been redelivered anyway
        deliver(state, action, senders(), policy.delivery, later)
    assert sent.call_count == 1
    assert (state.get(OUTBOX, pied)["status"], state.get(OUTBOX, hooli)["status"]) == (
        "delivered",
        "cancelled",
    )
    assert taops(["outbox", "cancel", pied, "--by", ANA, "--reason", "x", "--store", store]) == 1
    assert (
        f"{pied} email.send to {RICHARD}" in (out := capsys.readouterr().out)
        and "is delivered: too late" in out
    )


def test_while_the_ta_is_away_the_email_keeps_the_hours_of_whoever_stands_in(book, policy) -> None:
    from tests.functional.test_ooo_scenarios import deel

    # Ben (Los Angeles) is away 2 to 6 November; Ana (Berlin), his coverage peer, stands in.
    ben_away = deel("2026-10-20T09:00:00Z", "APPROVED", "2026-11-02", "2026-11-06", BEN, "pto-ben")
    result = replay([ben_away, tick(at("2026-11-01T09:00:00"), "call-offer")], book, policy)
    hooli = next(a for a in result.actions if a["idempotency_key"] == "call-offer:hooli:FY2027-Q4")
    assert hooli["not_before"] == "2026-11-02T09:00:00Z"  # 10:00 in Berlin, not 09:00 in LA
    assert (hooli["to"], hooli["ta"]) == ([GAVIN], BEN)  # still Hooli's TA on record
