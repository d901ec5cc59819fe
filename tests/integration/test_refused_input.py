"""Deployed, a webhook holds no database role (infra/): what it refuses goes to
``refused-input`` on Pub/Sub and ``keep_refused`` keeps it in ``dead_letters`` on Firestore.
On both emulators: the webhook writes nothing itself, the document kept is the one the
webhook would have written directly, and a redelivered message changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from shared import clients
from shared.processing import DEAD_LETTERS
from shared.refused import REFUSED_TOPIC, TOPIC_ENV
from shared.sources import deel
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
KEY = "deel-key"
CLOCK = "2026-12-01T09:00:00+00:00"
JSON = {"content-type": "application/json"}
UNSIGNED = b'{"data": {"meta": {"event_type": "time-off.created"}}}'
MALFORMED = b"{]"


@pytest.fixture
def refusing(webhook, emulators: dict[str, str], pubsub_env: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """deel_webhook publishing refusals to refused-input (a probe on it), on Firestore."""
    client, probe = webhook(
        "deel_webhook", REFUSED_TOPIC, {"TAOPS_DEEL_SIGNING_KEY": KEY, TOPIC_ENV: REFUSED_TOPIC}
    )
    monkeypatch.setenv("TAOPS_CLOCK", CLOCK)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulators["firestore"])
    monkeypatch.setenv("TAOPS_STORE", f"firestore:{pubsub_env}")
    clients.reset()
    return client, probe


def _refuse_twice(client: Any) -> list[int]:
    unsigned = client.post("/", data=UNSIGNED, headers=JSON)
    malformed = client.post(
        "/", data=MALFORMED, headers={**JSON, "x-deel-signature": deel.signature(KEY, MALFORMED)}
    )
    return [unsigned.status_code, malformed.status_code]


def _pull(probe: Any, count: int) -> list[Any]:
    messages: list[Any] = []
    for _ in range(20):
        response = probe.sub.pull(subscription=probe.path, max_messages=10, timeout=30)
        if response.received_messages:
            probe.sub.acknowledge(
                subscription=probe.path, ack_ids=[m.ack_id for m in response.received_messages]
            )
        messages += [m.message for m in response.received_messages]
        if len(messages) >= count:
            return messages
    raise AssertionError(f"{len(messages)} of {count} refusals arrived")


def _kept() -> dict[str, dict[str, Any]]:
    return dict(clients.store().query(DEAD_LETTERS))


def test_a_refusal_is_published_and_keep_refused_stores_what_the_webhook_would_have(
    refusing, pubsub_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, probe = refusing
    assert _refuse_twice(client) == [401, 400]
    assert _kept() == {}, "the webhook itself wrote nothing"

    keeper = create_app("keep_refused", str(ROOT / "main.py"), "cloudevent").test_client()
    messages = _pull(probe, 2)
    for message in [*messages, messages[0]]:  # the first one delivered twice
        headers, body = cloud_event(message.data, REFUSED_TOPIC, dict(message.attributes))
        assert keeper.post("/", headers=headers, data=body).status_code == 200
    kept = _kept()
    assert {message.attributes["dead_letter_id"] for message in messages} == set(kept)
    by_reason = {doc["reason"]: doc for doc in kept.values()}
    assert by_reason["missing or invalid signature"]["raw"] is None
    assert by_reason["missing or invalid signature"]["unauthenticated"] is True
    [malformed] = [doc for doc in kept.values() if doc["raw"] is not None]
    assert malformed["raw"] == "{]" and malformed["reason"].startswith("body: not JSON")

    # The same requests where the webhook writes Firestore itself (no topic configured):
    # the same documents under the same ids.
    monkeypatch.delenv(TOPIC_ENV)
    monkeypatch.setenv("TAOPS_STORE", f"firestore:{pubsub_env}-direct")
    clients.reset()
    assert _refuse_twice(client) == [401, 400]
    assert _kept() == kept


def test_a_message_that_is_not_a_refusal_is_kept_as_bad_input(refusing) -> None:
    keeper = create_app("keep_refused", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(b'{"id": "not-an-id", "document": {}}', REFUSED_TOPIC)
    assert keeper.post("/", headers=headers, data=body).status_code == 200  # not retried
    [doc] = _kept().values()
    assert doc["function"] == "keep_refused"
    assert "id is not a dead letter's id" in doc["reason"]
