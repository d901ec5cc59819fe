"""Customer email that is safe to send, wherever it comes from: Gmail's users.messages.send
gets a base64url RFC 2822 message with both parts and the unsubscribe headers (against a
respx mock in the documented shape); do_not_contact holds for the OOO notice too, and at
the last moment before sending; an email a person cancelled is never revived.

The OOO world is tests/functional/test_ooo_scenarios.py's: Ana Ruiz (Berlin) away
2026-12-14 to 2026-12-18; Acme's champion jo@acme.test, Globex's shared Slack channel.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from shared.book import parse_book
from shared.delivery import deliver
from shared.processing import OUTBOX
from shared.replay import replay
from shared.rules.customer_email import compose
from shared.sources.senders import build_senders
from shared.store import EmbeddedStore
from tests.functional.test_ooo_scenarios import ANA_APPROVED, UNTIL, deel

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SEND = "https://gmail.test/gmail/v1/users/scaled-success%40example.com/messages/send"
ACCOUNT = {
    "id": "hooli",
    "name": "Hooli & Sons <QA>",
    "champions": ["gavin@hooli.test"],
    "ta": "ben@example.com",
}


def offer(policy, **account: Any) -> dict[str, Any]:
    """A call offer to ``ACCOUNT`` (or as changed), decided at ``NOW``, as the outbox keeps it."""
    composed = compose(
        {**ACCOUNT, **account},
        key="call-offer:hooli:FY2027-Q4",
        reason="the quarterly call offer",
        topic="quarterly call offer",
        template="call_offer",
        context={
            "minutes": 30,
            "booking_link": policy.scaled_success.booking_link,
            "until": "31 January 2027",
        },
        history=[],
        policy=policy,
        now=NOW,
        timezone="America/Los_Angeles",
        cadence="call-offer",
        period="FY2027-Q4",
    )
    assert composed.action is not None
    return {**composed.action.model_dump(mode="json"), "status": "published"}


def sent_message(route: respx.Route, call: int = -1) -> EmailMessage:
    body = json.loads(route.calls[call].request.content)
    assert set(body) == {"raw"}  # a Message resource with only ``raw``
    raw = base64.urlsafe_b64decode(body["raw"].encode())
    parsed = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.fixture
def gmail(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAOPS_GMAIL_API_BASE", "https://gmail.test/gmail/v1")
    monkeypatch.delenv("TAOPS_DELIVERY", raising=False)
    answer = json.loads((ROOT / "tests" / "events" / "gmail_messages_send_response.json").read_text())
    with respx.mock:
        yield respx.post(SEND).mock(return_value=httpx.Response(200, json=answer))


def senders(tokens: list[str] | None = None):
    def token(user: str) -> str:
        (tokens if tokens is not None else []).append(user)
        return "ya29.test"

    return build_senders(httpx.Client(), token, "taops@example.com")


def test_gmail_sends_both_parts_and_the_unsubscribe_header_from_the_teams_address(gmail, policy) -> None:
    store = EmbeddedStore()
    action = offer(policy)
    store.put(OUTBOX, action["id"], action)
    users: list[str] = []

    outcome = deliver(store, action["id"], senders(users), policy.delivery, NOW)

    assert outcome.status == "delivered" and gmail.call_count == 1
    assert users == ["scaled-success@example.com"]  # the token is the team mailbox's
    assert gmail.calls.last.request.headers["authorization"] == "Bearer ya29.test"
    message = sent_message(gmail)
    assert message["From"] == "The Technical Advisor team <scaled-success@example.com>"
    assert (message["To"], message["Reply-To"]) == ("gavin@hooli.test", "technicaladvisors@example.com")
    assert message["Subject"] == "30 minutes with a Technical Advisor this quarter, Hooli & Sons <QA>?"
    assert message["Message-ID"] == f"<{action['id']}@example.com>"
    # Folded as RFC 2822 recommends (78 columns); unfolded it is the policy's two targets.
    assert message["List-Unsubscribe"].strip() == (
        "<mailto:unsubscribe@example.com?subject=unsubscribe%20hooli>, "
        "<https://example.com/email-preferences?account=hooli>"
    )
    assert message["List-Unsubscribe-Post"] is None  # the page does not take one-click POSTs
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.iter_parts()
    assert (text_part.get_content_type(), html_part.get_content_type()) == ("text/plain", "text/html")
    text, html = (part.get_content().replace("\r\n", "\n") for part in (text_part, html_part))
    assert text == action["body"] and html == action["html"]  # the words the replay showed
    assert "Hi Hooli & Sons <QA> team," in text
    assert "<p>Hi Hooli &amp; Sons &lt;QA&gt; team,</p>" in html  # escaped in HTML only
    assert "To receive no more of these emails, write to unsubscribe@example.com" in text
    doc = store.get(OUTBOX, action["id"])
    assert doc["result"] == {"message_id": "18d4f2e1a3b5c6d7", "thread_id": "18d4f2e1a3b5c6d7"}


def test_a_retried_send_carries_the_same_message_id(gmail, policy) -> None:
    gmail.side_effect = [httpx.Response(503), httpx.Response(200, json={"id": "m2", "threadId": "t2"})]
    store = EmbeddedStore()
    action = offer(policy)
    store.put(OUTBOX, action["id"], action)

    outcome = deliver(store, action["id"], senders(), policy.delivery, NOW, sleep=lambda s: None)

    assert outcome.status == "delivered" and outcome.attempts == 2
    assert sent_message(gmail, 0)["Message-ID"] == sent_message(gmail, 1)["Message-ID"]


def test_one_click_unsubscribe_is_announced_only_when_the_policy_says_the_page_takes_it(
    gmail, policy
) -> None:
    scaled = policy.scaled_success.model_copy(
        update={"unsubscribe": policy.scaled_success.unsubscribe.model_copy(update={"one_click": True})}
    )
    one_click = policy.model_copy(update={"scaled_success": scaled})
    store = EmbeddedStore()
    action = offer(one_click)
    store.put(OUTBOX, action["id"], action)
    deliver(store, action["id"], senders(), policy.delivery, NOW)
    assert sent_message(gmail)["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_an_account_marked_do_not_contact_after_the_decision_gets_nothing(gmail, policy) -> None:
    store = EmbeddedStore()
    action = offer(policy)
    store.put(OUTBOX, action["id"], action)
    store.put("accounts", "hooli", {**ACCOUNT, "do_not_contact": True})  # set while it waited for review

    outcome = deliver(store, action["id"], senders(), policy.delivery, NOW)

    assert outcome.status == "skipped" and gmail.call_count == 0
    doc = store.get(OUTBOX, action["id"])
    assert (doc["status"], doc["skipped_reason"]) == ("skipped", "do_not_contact")
    # Also in dry run (replay, the demo): nothing pretends to have been delivered.
    again = offer(policy)
    store.put(OUTBOX, again["id"], {**again, "status": "pending"})
    assert deliver(store, again["id"], {}, policy.delivery, NOW, dry=True).status == "skipped"


def test_an_email_a_person_cancelled_is_not_derived_again(policy) -> None:
    cancelled = {
        **offer(policy),
        "status": "cancelled",
        "cancelled_by": "ben@example.com",
        "cancel_reason": "on leave",
    }
    composed = compose(
        ACCOUNT,
        key="call-offer:hooli:FY2027-Q4",
        reason="the quarterly call offer",
        topic="quarterly call offer",
        template="call_offer",
        context={"minutes": 30, "booking_link": "https://x.test", "until": "31 January 2027"},
        history=[cancelled],
        policy=policy,
        now=NOW,
        timezone="UTC",
    )
    assert composed.action is None and composed.skipped is None
    assert (
        composed.note
        == "Hooli & Sons <QA>: the quarterly call offer was cancelled by ben@example.com (on leave): "
        "not sent again"
    )


@pytest.fixture
def ooo_book(book_data: dict[str, Any]):
    for account in book_data["accounts"]:
        if account["id"] == "globex":
            account["slack_channel"] = "C0GLBX"
        if account["id"] in ("acme", "globex"):
            account["do_not_contact"] = True
    return parse_book(book_data)


def test_the_ooo_notice_and_its_cancellation_note_honour_do_not_contact(ooo_book, policy) -> None:
    cancelled = deel(
        "2026-12-10T10:00:00Z", "CANCELED", "2026-12-14", "2026-12-18", event_type="time-off.updated"
    )
    result = replay([ANA_APPROVED, cancelled], ooo_book, policy, scheduler=True, until=UNTIL)
    to_customers = [
        a for a in result.actions if "jo@acme.test" in a["recipients"] or a.get("channel") == "C0GLBX"
    ]
    assert to_customers == []
    records = sorted(
        (doc["idempotency_key"], doc["reason"])
        for doc in result.state[OUTBOX].values()
        if doc["status"] == "skipped"
    )
    assert records == [
        (
            "ooo:pto-ana-1:acme:customer-notice:2026-12-14:2026-12-18:ben@example.com:skipped",
            "Acme Corp told of Ana Ruiz's absence 5 days ahead: not sent, Acme Corp is marked "
            "do_not_contact in the book",
        )
    ]
    notes = [n for step in result.steps for n in step.notes if "do_not_contact" in n]
    assert notes == [
        "Acme Corp is marked do_not_contact: the out-of-office notice is not sent",
        "Globex is marked do_not_contact: the out-of-office notice is not posted",
    ]
    # Nobody was told, so the cancellation has no customer to tell either.
    withdrawn = next(n for step in result.steps for n in step.notes if n.startswith("plan withdrawn"))
    assert "customers" not in withdrawn
