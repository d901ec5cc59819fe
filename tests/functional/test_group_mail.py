"""on_group_mail through the real functions framework: the Gmail API mocked at the HTTP
layer with its documented responses (tests/events/gmail_*.json), the embedded store."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from functions_framework import create_app
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared import clients
from shared.cli import main as taops
from shared.handlers import MAIL_THREADS
from shared.mailbox import MAILBOXES
from shared.processing import DEAD_LETTERS, OUTBOX
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
API = "https://gmail.test/gmail/v1"
BOX = "technicaladvisors@example.com"
USER = f"{API}/users/{BOX}"


def fixture(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def push(history_id: int) -> tuple[dict, bytes]:
    return cloud_event(json.dumps({"emailAddress": BOX, "historyId": str(history_id)}).encode(), "gmail-push")


def customer_message() -> dict:
    return fixture("gmail_message_get_metadata_response.json")


def team_reply() -> dict:
    reply = customer_message()
    reply.update(id="18fc2b0000000001", internalDate="1749560731000")  # one hour later
    reply["payload"]["headers"][0] = {"name": "From", "value": "Ana Ruiz <ana@example.com>"}
    return reply


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_GMAIL_ACCESS_TOKEN", "ya29.test")
    monkeypatch.setenv("TAOPS_GMAIL_API_BASE", API)
    clients.reset()
    yield create_app("on_group_mail", str(ROOT / "main.py"), "cloudevent").test_client()
    clients.reset()


def thread() -> dict:
    [(_, doc)] = clients.store().query(MAIL_THREADS)
    return doc


@respx.mock
def test_the_first_push_only_remembers_where_the_mailbox_is(app) -> None:
    headers, body = push(1234567890)
    assert app.post("/", headers=headers, data=body).status_code == 200
    assert clients.store().get(MAILBOXES, BOX)["history_id"] == 1234567890
    assert not respx.calls  # nothing to fetch yet


@respx.mock
def test_a_customer_message_opens_a_waiting_thread_from_metadata_only(app) -> None:
    clients.store().put(MAILBOXES, BOX, {"history_id": 1234567890})
    history = respx.get(f"{USER}/history").mock(
        return_value=httpx.Response(200, json=fixture("gmail_history_list_response.json"))
    )
    get = respx.get(f"{USER}/messages/18fc2a9b5e4d3c21").mock(
        return_value=httpx.Response(200, json=customer_message())
    )
    headers, body = push(1234567900)
    assert app.post("/", headers=headers, data=body).status_code == 200

    assert history.calls.last.request.url.params["startHistoryId"] == "1234567890"
    assert history.calls.last.request.headers["authorization"] == "Bearer ya29.test"
    assert get.calls.last.request.url.params["format"] == "metadata"  # bodies are never fetched
    doc = thread()
    assert doc["thread_id"] == "18fc29e01a2b3c4d" and doc["subject"] == "Re: Globex renewal next steps"
    assert doc["customer_address"] == "pat@globex.example"
    assert doc["waiting_since"] == "2025-06-10T12:05:31Z"
    assert clients.store().get(MAILBOXES, BOX)["history_id"] == 1234567910


@respx.mock
def test_a_team_reply_clears_the_waiting_state_and_a_repeated_push_changes_nothing(app) -> None:
    store = clients.store()
    store.put(MAILBOXES, BOX, {"history_id": 100})
    page = fixture("gmail_history_list_response.json")
    page["history"][0]["messagesAdded"].append(
        {"message": {"id": "18fc2b0000000001", "threadId": "18fc29e01a2b3c4d"}}
    )
    respx.get(f"{USER}/history").mock(return_value=httpx.Response(200, json=page))
    respx.get(f"{USER}/messages/18fc2a9b5e4d3c21").mock(
        return_value=httpx.Response(200, json=customer_message())
    )
    respx.get(f"{USER}/messages/18fc2b0000000001").mock(return_value=httpx.Response(200, json=team_reply()))
    headers, body = push(1234567900)
    assert app.post("/", headers=headers, data=body).status_code == 200
    doc = thread()
    assert doc["waiting_since"] is None and doc["last_team_reply_at"] == "2025-06-10T13:05:31Z"
    before = store.dump()
    assert app.post("/", headers=headers, data=body).status_code == 200
    assert store.dump()[MAIL_THREADS] == before[MAIL_THREADS]


@respx.mock
def test_history_is_paged_to_the_end(app) -> None:
    clients.store().put(MAILBOXES, BOX, {"history_id": 100})
    first = {"history": [], "nextPageToken": "p2", "historyId": "150"}
    route = respx.get(f"{USER}/history").mock(
        side_effect=[
            httpx.Response(200, json=first),
            httpx.Response(200, json=fixture("gmail_history_list_response.json")),
        ]
    )
    respx.get(f"{USER}/messages/18fc2a9b5e4d3c21").mock(
        return_value=httpx.Response(200, json=customer_message())
    )
    headers, body = push(120)
    assert app.post("/", headers=headers, data=body).status_code == 200
    assert route.calls[1].request.url.params["pageToken"] == "p2"
    assert thread()["customer_address"] == "pat@globex.example"


@respx.mock
def test_an_expired_history_id_resyncs_recent_messages(app) -> None:
    clients.store().put(MAILBOXES, BOX, {"history_id": 5})
    respx.get(f"{USER}/history").mock(return_value=httpx.Response(404, json={"error": {"code": 404}}))
    listing = respx.get(f"{USER}/messages").mock(
        return_value=httpx.Response(
            200, json={"messages": [{"id": "18fc2a9b5e4d3c21", "threadId": "18fc29e01a2b3c4d"}]}
        )
    )
    respx.get(f"{USER}/messages/18fc2a9b5e4d3c21").mock(
        return_value=httpx.Response(200, json=customer_message())
    )
    headers, body = push(1234567999)
    assert app.post("/", headers=headers, data=body).status_code == 200
    assert listing.calls.last.request.url.params["q"] == "newer_than:7d"
    assert thread()["waiting_since"] is not None
    assert clients.store().get(MAILBOXES, BOX)["history_id"] == 1234567999


@respx.mock
def test_a_gmail_outage_is_retried_and_the_cursor_stays(app) -> None:
    clients.store().put(MAILBOXES, BOX, {"history_id": 100})
    respx.get(f"{USER}/history").mock(return_value=httpx.Response(503))
    headers, body = push(200)
    assert app.post("/", headers=headers, data=body).status_code == 500
    assert clients.store().get(MAILBOXES, BOX)["history_id"] == 100


def test_a_push_that_is_not_a_gmail_notification_is_acknowledged_and_kept(app) -> None:
    headers, body = cloud_event(b'{"historyId": "12"}', "gmail-push")
    assert app.post("/", headers=headers, data=body).status_code == 200
    [(_, kept)] = clients.store().query(DEAD_LETTERS)
    assert kept["source"] == "gmail" and "KeyError" in kept["reason"]


def test_the_documented_push_body_decodes_and_a_mailbox_that_is_not_the_pooled_one_is_refused(app) -> None:
    # Google's example is for user@example.com: decoded, then refused as not ours, and kept.
    with respx.mock:  # Gmail is never called for it
        response = app.post("/", json=fixture("gmail_pubsub_push_body.json"))
    assert response.status_code == 200
    assert clients.store().get(MAILBOXES, "user@example.com") is None
    [(_, kept)] = clients.store().query(DEAD_LETTERS)
    assert kept["reason"] == "user@example.com is not the pooled mailbox (technicaladvisors@example.com)"

    pooled = fixture("gmail_pubsub_push_body.json")
    pooled["message"]["data"] = base64.b64encode(
        json.dumps({"emailAddress": BOX, "historyId": "1234567890"}).encode()
    ).decode()
    with respx.mock:
        assert app.post("/", json=pooled).status_code == 200
    assert clients.store().get(MAILBOXES, BOX)["history_id"] == 1234567890


@respx.mock
def test_taops_gmail_watch_renews_the_watch(monkeypatch, capsys) -> None:
    monkeypatch.setenv("TAOPS_GMAIL_ACCESS_TOKEN", "ya29.test")
    monkeypatch.setenv("TAOPS_GMAIL_API_BASE", API)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "acme-taops")
    route = respx.post(f"{USER}/watch").mock(
        return_value=httpx.Response(200, json=fixture("gmail_watch_response.json"))
    )
    assert taops(["gmail", "watch", "--mailbox", BOX]) == 0
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "topicName": "projects/acme-taops/topics/gmail-push",
        "labelIds": ["INBOX"],
        "labelFilterBehavior": "INCLUDE",
    }
    expires = datetime.fromtimestamp(1431990098200 / 1000, UTC).isoformat()
    assert f"expires {expires}" in capsys.readouterr().out


@respx.mock
def test_the_gmail_watch_tick_renews_the_watch(monkeypatch) -> None:
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_GMAIL_ACCESS_TOKEN", "ya29.test")
    monkeypatch.setenv("TAOPS_GMAIL_API_BASE", API)
    clients.reset()
    route = respx.post(f"{USER}/watch").mock(
        return_value=httpx.Response(200, json=fixture("gmail_watch_response.json"))
    )
    tick = create_app("on_cadence_tick", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(b'{"job": "gmail-watch"}', "cadence-tick")
    assert tick.post("/", headers=headers, data=body).status_code == 200
    assert route.called
    headers, body = cloud_event(b'{"job": "no-such-job"}', "cadence-tick")
    assert tick.post("/", headers=headers, data=body).status_code == 200
    [(_, kept)] = clients.store().query(DEAD_LETTERS)
    assert "no reaction for job 'no-such-job'" in kept["reason"]
    clients.reset()


def _is_notification(data: bytes) -> bool:
    try:
        decoded = json.loads(data)
        return isinstance(decoded, dict) and "emailAddress" in decoded and "historyId" in decoded
    except ValueError:
        return False


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200))
def test_random_push_data_is_acknowledged_not_retried(app, data: bytes) -> None:
    assume(not _is_notification(data))
    headers, body = cloud_event(data, "gmail-push")
    with respx.mock:  # Gmail must not be called at all
        response = app.post("/", headers=headers, data=body)
    assert response.status_code == 200


@respx.mock
def test_one_malformed_message_between_two_good_ones_is_kept_aside_and_the_cursor_moves_on(app) -> None:
    store = clients.store()
    store.put(MAILBOXES, BOX, {"history_id": 100})
    page = {
        "history": [
            {"id": "101", "messagesAdded": [{"message": {"id": "good-1", "threadId": "t1"}}]},
            {"id": "102", "messagesAdded": [{"message": {"id": "broken", "threadId": "t2"}}]},
            {"id": "103", "messagesAdded": [{"message": {"id": "good-2", "threadId": "t3"}}]},
        ],
        "historyId": "103",
    }
    respx.get(f"{USER}/history").mock(return_value=httpx.Response(200, json=page))
    first = customer_message()
    first.update(id="good-1", threadId="t1")
    second = customer_message()
    second.update(id="good-2", threadId="t3")
    broken = customer_message()
    broken.update(id="broken", threadId="t2")
    del broken["internalDate"]  # Gmail always sends it; this one cannot be placed in time
    for message in (first, broken, second):
        respx.get(f"{USER}/messages/{message['id']}").mock(return_value=httpx.Response(200, json=message))
    headers, body = push(103)
    assert app.post("/", headers=headers, data=body).status_code == 200  # acknowledged, not retried
    assert {doc["thread_id"] for _, doc in store.query(MAIL_THREADS)} == {"t1", "t3"}
    assert store.get(MAILBOXES, BOX)["history_id"] == 103  # later mail is not stuck behind it
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert kept["event_id"] == f"{BOX}:broken" and "internalDate" in kept["reason"]
    assert json.loads(kept["raw"])["id"] == "broken"


def test_a_push_with_no_gmail_credentials_is_kept_and_alerts_the_operators_once_an_hour(
    monkeypatch, capsys
) -> None:
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_PUBLISH_ACTIONS", "0")
    monkeypatch.delenv("TAOPS_GMAIL_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("TAOPS_GMAIL_METADATA_KEY_FILE", raising=False)
    # Delivery's key, which can send mail, is never what reads the mailbox.
    monkeypatch.setenv("TAOPS_GMAIL_SA_KEY_FILE", "/nonexistent/delivery-key.json")
    clients.reset()
    store = clients.store()
    store.put(MAILBOXES, BOX, {"history_id": 100})
    app = create_app("on_group_mail", str(ROOT / "main.py"), "cloudevent").test_client()
    for clock, history in (("10:00", 200), ("10:10", 201), ("10:59", 202), ("11:01", 203)):
        monkeypatch.setenv("TAOPS_CLOCK", f"2026-12-15T{clock}:00+00:00")
        headers, body = push(history)
        with respx.mock:  # Gmail is never called without credentials
            assert app.post("/", headers=headers, data=body).status_code == 200  # no retry storm
    kept = [doc for _, doc in store.query(DEAD_LETTERS)]
    assert len(kept) == 4 and all("set TAOPS_GMAIL_METADATA_KEY_FILE" in doc["reason"] for doc in kept)
    alerts = [doc for _, doc in store.query(OUTBOX) if doc["kind"] == "ops.alert"]
    assert [a["idempotency_key"] for a in alerts] == [
        "ops:gmail-credentials:2026-12-15T10:00:00Z",
        "ops:gmail-credentials:2026-12-15T11:00:00Z",
    ]
    assert store.get(MAILBOXES, BOX)["history_id"] == 100  # nothing is lost: the next push resumes here
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert not any("Traceback" in json.dumps(entry) for entry in logged)
    assert sum(entry.get("fault") == "configuration" for entry in logged) == 4
    clients.reset()


@respx.mock
def test_a_message_gmail_refuses_to_return_is_kept_aside_and_the_rest_of_the_page_goes_on(app) -> None:
    store = clients.store()
    store.put(MAILBOXES, BOX, {"history_id": 100})
    page = {
        "history": [
            {"id": str(101 + n), "messagesAdded": [{"message": {"id": mid, "threadId": f"t-{mid}"}}]}
            for n, mid in enumerate(("good-1", "refused", "good-2"))
        ],
        "historyId": "103",
    }
    respx.get(f"{USER}/history").mock(return_value=httpx.Response(200, json=page))
    for mid in ("good-1", "good-2"):
        message = customer_message()
        message.update(id=mid, threadId=f"t-{mid}")
        respx.get(f"{USER}/messages/{mid}").mock(return_value=httpx.Response(200, json=message))
    respx.get(f"{USER}/messages/refused").mock(
        return_value=httpx.Response(400, json={"error": {"code": 400, "message": "Invalid id value"}})
    )
    headers, body = push(103)
    assert app.post("/", headers=headers, data=body).status_code == 200
    assert {doc["thread_id"] for _, doc in store.query(MAIL_THREADS)} == {"t-good-1", "t-good-2"}
    assert store.get(MAILBOXES, BOX)["history_id"] == 103
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert kept["event_id"] == f"{BOX}:refused" and "400" in kept["reason"]
