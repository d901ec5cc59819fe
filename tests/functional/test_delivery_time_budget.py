"""One delivery run ends inside its lease: against a vendor that keeps timing out it stops
retrying once another attempt could end past ``delivery.run_seconds``, gives the action
back for the next delivery, and never holds it past the lease (where another instance
would take it over and send it again). HTTP calls wait ``delivery.timeout_seconds``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
import yaml
from functions_framework import create_app
from pydantic import ValidationError

from shared.delivery import deliver
from shared.exceptions import TransientError
from shared.models import Action
from shared.policy import Delivery, Policy, load_policy
from shared.processing import OUTBOX
from shared.sources.senders import build_senders
from tests.functional.test_delivery import NOW, SLACK, fixture, queue
from tests.functional.test_delivery import store as store
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
VITALLY = "https://acme.rest.vitally.io/resources/tasks"


class Clock:
    """Monotonic time that moves only when the run waits or a vendor makes it wait."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def delivery(policy: Policy, **changes: float) -> Delivery:
    return Delivery.model_validate({**policy.delivery.model_dump(), **changes})


def slow_vendor(clock: Clock, seconds: float):
    """A vendor that answers nothing within the timeout: the call takes its whole allowance."""

    def answer(request: httpx.Request) -> httpx.Response:
        clock.sleep(seconds)
        raise httpx.ReadTimeout("no answer", request=request)

    return answer


def deliver_slowly(store, action_id: str, rules: Delivery, clock: Clock):
    senders = build_senders(httpx.Client(), lambda user: "ya29.test", "technicaladvisors@example.com")
    return deliver(store, action_id, senders, rules, NOW, sleep=clock.sleep, monotonic=clock)


@respx.mock
def test_a_vendor_that_keeps_timing_out_is_left_for_the_next_delivery_before_the_lease_ends(
    store, policy
) -> None:
    rules = delivery(policy, max_attempts=20)  # attempts alone would run for minutes
    clock = Clock()
    route = respx.post(SLACK).mock(side_effect=slow_vendor(clock, rules.attempt_seconds))
    action_id = queue(store)

    with pytest.raises(TransientError, match="this run's 90s are spent; left for the next delivery"):
        deliver_slowly(store, action_id, rules, clock)

    assert clock.now <= rules.run_seconds <= rules.lease_seconds - Delivery.RECORD_SECONDS
    assert 1 < route.call_count < rules.max_attempts
    # another attempt would have ended past run_seconds
    assert clock.now + rules.attempt_seconds > rules.run_seconds
    left = store.get(OUTBOX, action_id)
    assert left["status"] == "published" and left["lease_until"] is None
    assert left["attempts"] == route.call_count
    assert left["last_error"].startswith("Slack:")

    # the next delivery (Pub/Sub redelivers) sends it, once
    respx.post(SLACK).mock(
        return_value=httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json"))
    )
    outcome = deliver_slowly(store, action_id, rules, Clock())
    assert outcome.status == "delivered" and outcome.attempts == route.call_count


@respx.mock
def test_with_the_default_policy_a_vendor_that_answers_after_the_timeout_never_outlasts_the_lease(
    store, policy
) -> None:
    rules = policy.delivery
    clock = Clock()
    respx.post(SLACK).mock(side_effect=slow_vendor(clock, rules.attempt_seconds))

    try:
        outcome = deliver_slowly(store, queue(store), rules, clock)
    except TransientError:  # left for the next delivery
        pass
    else:
        assert outcome.status == "failed"  # or out of attempts
    assert clock.now <= rules.run_seconds < rules.lease_seconds


@respx.mock
def test_a_long_retry_after_that_fits_max_retry_after_but_not_the_budget_is_left_for_later(
    store, policy
) -> None:
    rules = delivery(policy, max_retry_after_seconds=80)
    clock = Clock()
    respx.post(SLACK).mock(
        return_value=httpx.Response(
            429, headers={"Retry-After": "80"}, json=fixture("slack_ratelimited_429_body.json")
        )
    )

    with pytest.raises(TransientError, match="left for the next delivery"):
        deliver_slowly(store, queue(store), rules, clock)

    assert clock.now == 0  # it did not wait 80 s it could not afford


def test_the_policy_refuses_a_run_that_with_its_recording_outlasts_the_lease(policy) -> None:
    with pytest.raises(ValidationError, match=r"run_seconds \(115\) and 10s to record the outcome exceed"):
        delivery(policy, run_seconds=115)
    with pytest.raises(ValidationError, match="exceed lease_seconds"):
        delivery(policy, lease_seconds=60)
    assert delivery(policy, run_seconds=110).run_seconds == 110


def test_the_policy_refuses_a_timeout_no_run_could_fit_one_attempt_of(policy) -> None:
    with pytest.raises(ValidationError, match=r"one attempt may take 65s .* more than run_seconds \(50\)"):
        delivery(policy, run_seconds=50, timeout_seconds=60)


def test_the_budget_and_attempt_come_from_the_policy(policy) -> None:
    rules = delivery(policy, timeout_seconds=3, run_seconds=40)
    assert rules.connect_seconds == 3 and rules.attempt_seconds == 6
    assert policy.delivery.attempt_seconds == policy.delivery.timeout_seconds + 5


@respx.mock
def test_deliver_action_calls_the_vendor_with_the_policys_timeout_and_sends_its_key(
    store, policy, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = yaml.safe_load((ROOT / "shared" / "default_policy.yaml").read_text())
    document["delivery"]["timeout_seconds"] = 4
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("TAOPS_POLICY", str(path))
    assert load_policy().delivery.timeout_seconds == 4
    route = respx.post(VITALLY).mock(return_value=httpx.Response(200, json={"id": "task-1"}))
    action = Action(
        kind="vitally.task",
        at=NOW,
        recipients=["ben@example.com"],
        reason="renewal in 90 days",
        idempotency_key="test:vitally-task",
        vitally_account_id="3f8a2b1c",
        name="Renewal review",
    )
    store.put(OUTBOX, action.id, {**action.model_dump(mode="json"), "status": "published"})

    app = create_app("deliver_action", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(json.dumps({"id": action.id}).encode(), "actions")
    assert app.post("/", headers=headers, data=body).status_code == 200

    request = route.calls.last.request
    assert request.extensions["timeout"] == {"connect": 4, "read": 4, "write": 4, "pool": 4}
    # Vitally takes our key: a retry after a lost answer names the same task
    assert json.loads(request.content)["externalId"] == action.id
    assert store.get(OUTBOX, action.id)["status"] == "delivered"
