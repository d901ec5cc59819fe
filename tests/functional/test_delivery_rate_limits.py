"""A vendor that rate-limits for a while (429 with ``Retry-After``) delays an action; it
does not fail it. Tries the vendor told us when to repeat are logged but do not use up
``delivery.max_attempts``; any other failure still does. The same, on the Firestore
emulator with a local Slack stand-in, is in tests/integration/test_delivery_faults.py."""

from __future__ import annotations

import httpx
import respx

from shared.processing import OUTBOX
from tests.functional.test_delivery import SLACK, fixture, queue, run
from tests.functional.test_delivery import store as store  # the fixture

LIMITED = httpx.Response(429, headers={"Retry-After": "1"}, json=fixture("slack_ratelimited_429_body.json"))
POSTED = httpx.Response(200, json=fixture("slack_chat_postMessage_response_ok.json"))


@respx.mock
def test_more_429s_than_max_attempts_still_deliver_once(store, policy) -> None:
    limited = policy.delivery.max_attempts + 3
    route = respx.post(SLACK).mock(side_effect=[LIMITED] * limited + [POSTED])
    waits: list[float] = []
    action_id = queue(store)
    outcome = run(store, action_id, policy, waits)
    assert outcome.status == "delivered"
    assert route.call_count == limited + 1
    assert waits == [1.0] * limited  # each wait is what Slack asked for
    log = store.get(OUTBOX, action_id)["attempt_log"]
    assert [entry.get("retry_after") for entry in log] == [1.0] * limited


@respx.mock
def test_failures_without_retry_after_still_give_up_after_max_attempts(store, policy) -> None:
    # Rate limits in between do not count, the 500s do.
    answers = [LIMITED, httpx.Response(500)] * policy.delivery.max_attempts + [POSTED]
    route = respx.post(SLACK).mock(side_effect=answers)
    outcome = run(store, queue(store), policy, [])
    assert outcome.status == "failed" and "gave up" in outcome.detail
    assert route.call_count == 2 * policy.delivery.max_attempts
