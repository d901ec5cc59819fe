"""Delivering actions against HTTP mocks shaped like the vendors' documented answers
(tests/events/slack_*.json): once, with retries on the right failures only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from functions_framework import create_app

from shared import clients
from shared.cli import main as taops
from shared.delivery import deliver
from shared.exceptions import ConfigurationError, TransientError
from shared.models import Action
from shared.processing import OUTBOX
from shared.sources.senders import build_senders
from shared.store import EmbeddedStore
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SLACK = "https://slack.com/api/chat.postMessage"


def fixture(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch):
    for name, value in {
        "TAOPS_STORE": "embedded",
        "TAOPS_SLACK_BOT_TOKEN": "xoxb-test",
        "TAOPS_SLACK_USER_TOKEN": "xoxp-test",
        "TAOPS_VITALLY_API_KEY": "secret_key",
        "TAOPS_VITALLY_BASE_URL": "https://acme.rest.vitally.io",
        "TAOPS_GMAIL_ACCESS_TOKEN": "ya29.test",
        "TAOPS_GMAIL_API_BASE": "https://gmail.test/gmail/v1",
        "TAOPS_CLOCK": NOW.isoformat(),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TAOPS_DELIVERY", raising=False)
    clients.reset()
    yield clients.store()
    clients.reset()


def queue(store, kind: str = "slack.message", status: str = "published", **fields) -> str:
    defaults = {"slack.message": {"channel": "U0BEN", "text": "You cover Acme"}}.get(kind, {})
    action = Action(
        kind=kind,
        at=NOW,
        recipients=["ben@example.com"],
        reason="covering for Ana",
        idempotency_key=f"test:{kind}:{sorted(fields.items())}",
        **{**defaults, **fields},
    )
    store.put(OUTBOX, action.id, {**action.model_dump(mode="json"), "status": status})
    return action.id


def run(store, action_id: str, policy, waits: list[float] | None = None):
    senders = build_senders(httpx.Client(), lambda user: "ya29.test", "technicaladvisors@example.com")
    return deliver(
        store,
        action_id,
        senders,
        policy.delivery,
        NOW,
        sleep=waits.append if waits is not None else (lambda s: None),
    )


def post(action_id: str) -> int:
    app = create_app("deliver_action", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(json.dumps({"id": action_id}).encode(), "actions")
    return app.post("/", headers=headers, data=body).status_code


@respx.mock
def test_a_slack_message_is_posted_once_even_when_the_action_is_redelivered(store) -> None:
    route = respx.post(SLACK).mock(
        return_value=httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json"))
    )
    action_id = queue(store)
    assert post(action_id) == 200
    assert post(action_id) == 200
    assert route.call_count == 1
    sent = json.loads(route.calls.last.request.content)
    assert sent["channel"] == "U0BEN" and sent["text"] == "You cover Acme"
    assert route.calls.last.request.headers["authorization"] == "Bearer xoxb-test"
    doc = store.get(OUTBOX, action_id)
    assert (
        doc["status"] == "delivered"
        and doc["attempts"] == 1
        and doc["delivered_at"] == "2026-11-22T12:00:00Z"
    )


@respx.mock
def test_429_waits_as_long_as_retry_after_says(store, policy) -> None:
    respx.post(SLACK).mock(
        side_effect=[
            httpx.Response(
                429, headers={"Retry-After": "3"}, json=fixture("slack_ratelimited_429_body.json")
            ),
            httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json")),
        ]
    )
    waits: list[float] = []
    outcome = run(store, queue(store), policy, waits)
    assert outcome.status == "delivered" and outcome.attempts == 2
    assert waits == [3.0]


@respx.mock
def test_a_500_then_success_backs_off_and_delivers(store, policy) -> None:
    respx.post(SLACK).mock(
        side_effect=[
            httpx.Response(500),
            httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json")),
        ]
    )
    waits: list[float] = []
    action_id = queue(store)
    assert run(store, action_id, policy, waits).status == "delivered"
    assert 0 < waits[0] <= policy.delivery.backoff_base_seconds
    assert store.get(OUTBOX, action_id)["attempt_log"][0]["error"] == "Slack: answered 500"


@respx.mock
def test_a_timeout_is_retried(store, policy) -> None:
    respx.post(SLACK).mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json")),
        ]
    )
    assert run(store, queue(store), policy).attempts == 2


@respx.mock
def test_slack_ratelimited_in_a_200_is_retried_but_channel_not_found_fails(store, policy) -> None:
    respx.post(SLACK).mock(
        side_effect=[
            httpx.Response(200, json={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "1"}),
            httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json")),
            httpx.Response(200, json=fixture("slack_chat_postMessage_response_error.json")),
        ]
    )
    assert run(store, queue(store, text="first"), policy).status == "delivered"
    failed = run(store, queue(store, text="second"), policy)
    assert failed.status == "failed" and failed.attempts == 1
    assert "channel_not_found" in failed.detail


@respx.mock
def test_a_permanent_4xx_fails_and_is_acknowledged(store) -> None:
    route = respx.post("https://acme.rest.vitally.io/resources/tasks").mock(
        return_value=httpx.Response(400, json={})
    )
    action_id = queue(store, kind="vitally.task", vitally_account_id="vit-acme", name="Resolve items")
    assert post(action_id) == 200  # acknowledged: retrying cannot help
    assert store.get(OUTBOX, action_id)["status"] == "failed"
    sent = json.loads(route.calls.last.request.content)
    assert sent["accountId"] == "vit-acme" and sent["externalId"] == action_id  # Vitally upserts on it
    assert route.calls.last.request.headers["authorization"] == "Basic c2VjcmV0X2tleTo="


@respx.mock
def test_taops_outbox_failed_shows_the_failure_and_its_reason(tmp_path, monkeypatch, policy, capsys) -> None:
    monkeypatch.setenv("TAOPS_VITALLY_API_KEY", "secret_key")
    from shared.store import EmbeddedStore

    store = EmbeddedStore(tmp_path / "state.json")
    respx.post(url__regex=r".*/resources/tasks").mock(return_value=httpx.Response(400, json={}))
    action_id = queue(store, kind="vitally.task", vitally_account_id="vit-acme", name="Resolve items")
    run(store, action_id, policy)
    assert taops(["outbox", "--failed", "--store", f"embedded:{tmp_path / 'state.json'}"]) == 0
    out = capsys.readouterr().out
    assert action_id in out and "Vitally: answered 400" in out and "1 action(s) failed" in out


@respx.mock
def test_a_long_retry_after_goes_back_to_pubsub_with_the_attempt_recorded(store, policy) -> None:
    respx.post(SLACK).mock(return_value=httpx.Response(429, headers={"Retry-After": "600"}))
    action_id = queue(store)
    with pytest.raises(TransientError):
        run(store, action_id, policy)
    doc = store.get(OUTBOX, action_id)
    assert doc["status"] == "published" and doc["attempts"] == 1 and "rate limited" in doc["last_error"]


@respx.mock
def test_a_cancelled_action_is_never_sent(store, policy) -> None:
    route = respx.post(SLACK).mock(return_value=httpx.Response(200, json={"ok": True}))
    assert run(store, queue(store, status="cancelled"), policy).status == "cancelled"
    assert not route.called


@respx.mock
def test_an_action_being_delivered_elsewhere_is_retried_later(store, policy) -> None:
    action_id = queue(store, status="sending", lease_until="2026-11-22T12:01:00Z")
    with pytest.raises(TransientError, match="another attempt"):
        run(store, action_id, policy)


@respx.mock
def test_the_autoresponder_and_slack_status_use_their_apis(store, policy) -> None:
    vacation = respx.put("https://gmail.test/gmail/v1/users/ana@example.com/settings/vacation").mock(
        return_value=httpx.Response(200, json=fixture("gmail_vacation_settings_response.json"))
    )
    status = respx.post("https://slack.com/api/users.profile.set").mock(
        return_value=httpx.Response(200, json=fixture("slack_users_profile_set_response_ok.json"))
    )
    v = queue(
        store,
        kind="gmail.vacation",
        user="ana@example.com",
        enable=True,
        subject="OOO",
        body="Back soon",
        start_ms="1781395200000",
        end_ms="1781827200000",
    )
    s = queue(
        store,
        kind="slack.status",
        user="U0ANA",
        status_text="OOO 2026-12-14 to 2026-12-18",
        status_emoji=":palm_tree:",
        status_expiration=1781827200,
    )
    assert run(store, v, policy).status == "delivered" and run(store, s, policy).status == "delivered"
    sent = json.loads(vacation.calls.last.request.content)
    assert sent["enableAutoReply"] is True and sent["startTime"] == "1781395200000"
    profile = json.loads(status.calls.last.request.content)
    assert profile["profile"]["status_expiration"] == 1781827200
    assert status.calls.last.request.headers["authorization"] == "Bearer xoxp-test"


def test_dry_run_records_what_would_be_sent_and_calls_nothing(store, policy, monkeypatch) -> None:
    monkeypatch.setenv("TAOPS_DELIVERY", "dry-run")
    action_id = queue(store)
    with respx.mock:  # any HTTP call would fail this test
        assert run(store, action_id, policy).status == "delivered"
    assert store.get(OUTBOX, action_id)["dry_run"] is True


def test_a_message_that_is_not_an_action_is_acknowledged_and_kept(store) -> None:
    app = create_app("deliver_action", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(b'{"kind": "slack.message"}', "actions")
    assert app.post("/", headers=headers, data=body).status_code == 200
    [(_, kept)] = store.query("dead_letters")
    assert "not an action" in kept["reason"]


@respx.mock
def test_calendar_review_lists_customer_syncs_to_the_ta_and_tells_the_account_ae(
    store, policy, monkeypatch
) -> None:
    monkeypatch.setenv("TAOPS_CALENDAR_API_BASE", "https://calendar.test/v3")
    events = respx.get("https://calendar.test/v3/calendars/ana@example.com/events").mock(
        return_value=httpx.Response(200, json=fixture("gcal_events_list_response.json"))
    )
    slack = respx.post(SLACK).mock(
        return_value=httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json"))
    )
    action_id = queue(
        store,
        kind="calendar.review",
        user="ana@example.com",
        ta_channel="U0ANA",
        time_min="2025-06-08T22:00:00Z",
        time_max="2025-06-13T22:00:00Z",
        company_domains=["acme.example"],
        accounts=[
            {
                "id": "globex",
                "name": "Globex",
                "ae": "alex@example.com",
                "ae_channel": "U0AE",
                "domains": ["globex.example"],
            }
        ],
    )
    outcome = run(store, action_id, policy)
    assert outcome.status == "delivered"
    params = events.calls.last.request.url.params
    assert (params["singleEvents"], params["timeMin"]) == ("true", "2025-06-08T22:00:00Z")
    posted = {
        json.loads(c.request.content)["channel"]: json.loads(c.request.content)["text"] for c in slack.calls
    }
    assert "Globex <> Acme weekly sync" in posted["U0ANA"] and "pat@globex.example" in posted["U0ANA"]
    assert "Out of office" not in posted["U0ANA"]  # the OOO block is not a customer sync
    assert "Globex <> Acme weekly sync" in posted["U0AE"]
    assert store.get(OUTBOX, action_id)["result"] == {"syncs": 1, "aes_told": 1}


@respx.mock
def test_block_kit_blocks_are_sent_with_the_text_as_fallback(store, policy) -> None:
    route = respx.post(SLACK).mock(
        return_value=httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json"))
    )
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "Coverage plan"}}]
    run(store, queue(store, blocks=blocks), policy)
    sent = json.loads(route.calls.last.request.content)
    assert sent["blocks"] == blocks and sent["text"] == "You cover Acme"


# -- every answer classified: nothing is left "sending" to be re-sent every lease ----------

VITALLY_TASKS = "https://acme.rest.vitally.io/resources/tasks"


@pytest.fixture
def saved(store, tmp_path):
    """A store kept in a file, so ``taops outbox --failed`` can read what delivery recorded."""
    from shared.store import EmbeddedStore

    return EmbeddedStore(tmp_path / "state.json")


def failed_listing(tmp_path, capsys) -> str:
    capsys.readouterr()
    assert taops(["outbox", "--failed", "--store", f"embedded:{tmp_path / 'state.json'}"]) == 0
    return capsys.readouterr().out


@respx.mock
def test_a_slack_200_whose_body_is_not_json_is_retried_then_failed_visibly(
    saved, policy, tmp_path, capsys
) -> None:
    route = respx.post(SLACK).mock(return_value=httpx.Response(200, text="<html>upstream error</html>"))
    action_id = queue(saved)

    outcome = run(saved, action_id, policy)

    tries = policy.delivery.max_attempts
    assert route.call_count == tries and outcome.status == "failed"
    doc = saved.get(OUTBOX, action_id)
    assert doc["status"] == "failed" and doc["attempts"] == tries and doc["failure"] == "retries"
    assert doc["last_error"] == (
        f"gave up after {tries} attempts: "
        "Slack chat.postMessage: answered with a body that is not a JSON object"
    )
    out = failed_listing(tmp_path, capsys)
    assert action_id in out and "not a JSON object" in out and "1 action(s) failed" in out


@respx.mock
def test_a_slack_200_that_is_not_json_once_is_delivered_on_the_next_attempt(store, policy) -> None:
    route = respx.post(SLACK).mock(
        side_effect=[
            httpx.Response(200, text="<html>upstream error</html>"),
            httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json")),
        ]
    )
    action_id = queue(store)

    outcome = run(store, action_id, policy)

    assert route.call_count == 2 and outcome.status == "delivered" and outcome.attempts == 2


@respx.mock
def test_a_vitally_task_answered_with_a_json_list_is_retried_then_failed_visibly(store, policy) -> None:
    route = respx.post(VITALLY_TASKS).mock(return_value=httpx.Response(200, json=[{"id": "task-1"}]))
    action_id = queue(store, kind="vitally.task", vitally_account_id="vit-acme", name="Resolve items")

    outcome = run(store, action_id, policy)

    tries = policy.delivery.max_attempts
    assert route.call_count == tries and outcome.status == "failed"
    doc = store.get(OUTBOX, action_id)
    assert doc["status"] == "failed" and doc["attempts"] == tries
    assert doc["last_error"].endswith(
        "Vitally POST /resources/tasks: answered with a body that is not a JSON object"
    )


@respx.mock
@pytest.mark.parametrize("header", ["-1", "nan"])
def test_a_retry_after_that_is_negative_or_nan_is_ignored_for_the_normal_backoff(
    store, policy, header: str
) -> None:
    respx.post(SLACK).mock(
        side_effect=[
            httpx.Response(
                429, headers={"Retry-After": header}, json=fixture("slack_ratelimited_429_body.json")
            ),
            httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json")),
        ]
    )
    waits: list[float] = []

    outcome = run(store, queue(store), policy, waits)

    assert outcome.status == "delivered" and outcome.attempts == 2
    [wait] = waits
    assert 0 < wait <= policy.delivery.backoff_base_seconds


@respx.mock
def test_an_error_no_sender_classified_is_retried_as_unexpected_then_failed(
    store, policy, monkeypatch
) -> None:
    monkeypatch.setenv("TAOPS_CALENDAR_API_BASE", "https://calendar.test/v3")
    events = respx.get("https://calendar.test/v3/calendars/ana@example.com/events").mock(
        return_value=httpx.Response(200, json={"kind": "calendar#events", "items": ["not an event"]})
    )
    action_id = queue(
        store,
        kind="calendar.review",
        user="ana@example.com",
        ta_channel="U0ANA",
        time_min="2025-06-08T22:00:00Z",
        time_max="2025-06-13T22:00:00Z",
    )

    outcome = run(store, action_id, policy)

    tries = policy.delivery.max_attempts
    assert events.call_count == tries and outcome.status == "failed"
    doc = store.get(OUTBOX, action_id)
    assert doc["status"] == "failed" and doc["attempts"] == tries and doc["lease_until"] is None
    assert doc["last_error"] == (
        f"gave up after {tries} attempts: "
        "unexpected error: AttributeError: 'str' object has no attribute 'get'"
    )


@respx.mock
def test_a_missing_slack_token_fails_the_action_as_configuration_and_is_raised(
    saved, policy, monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.delenv("TAOPS_SLACK_BOT_TOKEN")
    route = respx.post(SLACK).mock(return_value=httpx.Response(200, json={"ok": True}))
    action_id = queue(saved)

    with pytest.raises(ConfigurationError) as raised:
        run(saved, action_id, policy)

    assert raised.value.code == "slack-credentials" and not route.called
    doc = saved.get(OUTBOX, action_id)  # recorded before the error reached the caller
    assert (doc["status"], doc["failure"], doc["attempts"]) == ("failed", "configuration", 1)
    assert doc["last_error"] == "TAOPS_SLACK_BOT_TOKEN is not set: set it to send to Slack"
    assert action_id in failed_listing(tmp_path, capsys)


@respx.mock
@pytest.mark.parametrize("status", [401, 403])
def test_vitally_refusing_our_key_fails_the_action_as_configuration_and_is_raised(
    store, policy, status: int
) -> None:
    route = respx.post(VITALLY_TASKS).mock(
        return_value=httpx.Response(status, json={"error": "Unauthorized"})
    )
    action_id = queue(store, kind="vitally.task", vitally_account_id="vit-acme", name="Resolve items")

    with pytest.raises(ConfigurationError) as raised:
        run(store, action_id, policy)

    assert raised.value.code == "vitally-credentials" and route.call_count == 1
    doc = store.get(OUTBOX, action_id)
    assert (doc["status"], doc["failure"], doc["attempts"]) == ("failed", "configuration", 1)
    assert "check TAOPS_VITALLY_API_KEY" in doc["last_error"] and f"({status})" in doc["last_error"]


@respx.mock
@pytest.mark.parametrize(
    "error", ["invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope"]
)
def test_a_slack_token_error_fails_the_action_as_configuration_and_is_raised(
    store, policy, error: str
) -> None:
    route = respx.post(SLACK).mock(return_value=httpx.Response(200, json={"ok": False, "error": error}))
    action_id = queue(store)

    with pytest.raises(ConfigurationError):
        run(store, action_id, policy)

    assert route.call_count == 1
    doc = store.get(OUTBOX, action_id)
    assert (doc["status"], doc["failure"]) == ("failed", "configuration")
    assert doc["last_error"] == f"Slack chat.postMessage: {error}: check TAOPS_SLACK_BOT_TOKEN"


@respx.mock
def test_a_slack_missing_scope_names_the_scope_it_needs(store, policy) -> None:
    respx.post("https://slack.com/api/users.profile.set").mock(
        return_value=httpx.Response(
            200,
            json={
                "ok": False,
                "error": "missing_scope",
                "needed": "users.profile:write",
                "provided": "chat:write",
            },
        )
    )
    action_id = queue(store, kind="slack.status", user="U0ANA", status_text="OOO")

    with pytest.raises(ConfigurationError):
        run(store, action_id, policy)

    assert store.get(OUTBOX, action_id)["last_error"] == (
        "Slack users.profile.set: missing_scope (needs users.profile:write): check TAOPS_SLACK_USER_TOKEN"
    )


@respx.mock
def test_a_google_403_rate_limit_is_retried_not_failed(store, policy) -> None:
    rate_limited = {
        "error": {
            "code": 403,
            "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded"}],
            "message": "User Rate Limit Exceeded",
        }
    }
    vacation = respx.put("https://gmail.test/gmail/v1/users/ana@example.com/settings/vacation").mock(
        side_effect=[
            httpx.Response(403, json=rate_limited),
            httpx.Response(200, json=fixture("gmail_vacation_settings_response.json")),
        ]
    )
    action_id = queue(store, kind="gmail.vacation", user="ana@example.com", enable=False)

    outcome = run(store, action_id, policy)

    assert vacation.call_count == 2 and outcome.status == "delivered" and outcome.attempts == 2


@respx.mock
def test_the_operators_alert_goes_to_the_operations_channel_else_by_mail(monkeypatch) -> None:
    from shared.policy import load_policy

    monkeypatch.setenv("TAOPS_SLACK_BOT_TOKEN", "xoxb-t")
    monkeypatch.setenv("TAOPS_GMAIL_ACCESS_TOKEN", "ya29.t")
    monkeypatch.setenv("TAOPS_GMAIL_API_BASE", "https://gmail.test/gmail/v1")
    slack_call = respx.post("https://slack.com/api/chat.postMessage").mock(
        return_value=httpx.Response(200, json={"ok": True, "channel": "C0OPS", "ts": "1.1"})
    )
    mail_call = respx.post(url__regex=r"https://gmail\.test/.*/messages/send").mock(
        return_value=httpx.Response(200, json={"id": "m1"})
    )
    store = EmbeddedStore()
    alert = {
        "kind": "ops.alert",
        "status": "published",
        "idempotency_key": "ops:gmail-credentials:2026-12-15T10:00:00Z",
        "text": "taops needs an operator: no Gmail credentials",
        "subject": "taops: gmail-credentials",
        "recipients": [],
    }
    senders = build_senders(httpx.Client(), lambda user: "ya29.t", "taops@example.com")
    store.put("outbox", "act_ops1", {**alert, "id": "act_ops1", "channel": "C0OPS", "to": []})
    store.put(
        "outbox", "act_ops2", {**alert, "id": "act_ops2", "channel": None, "to": ["oncall@example.com"]}
    )
    policy = load_policy().delivery
    assert deliver(store, "act_ops1", senders, policy, NOW).status == "delivered"
    assert deliver(store, "act_ops2", senders, policy, NOW).status == "delivered"
    assert json.loads(slack_call.calls.last.request.content)["channel"] == "C0OPS"
    assert mail_call.call_count == 1
    store.put("outbox", "act_ops3", {**alert, "id": "act_ops3", "channel": None, "to": []})
    failed = deliver(store, "act_ops3", senders, policy, NOW)
    assert (
        failed.status == "failed"
        and "no slack_channel and no emails" in store.get("outbox", "act_ops3")["last_error"]
    )
