"""``deel_webhook`` through the real functions framework, publishing to the Pub/Sub emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import clients, pubsub
from shared.processing import DEAD_LETTERS
from shared.sources import deel

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
KEY = "test-signing-key"
# What an HTTP client can put in a header at all (no control characters or surrogates).
HEADER_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))


def raw(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def signed(body: bytes, key: str = KEY) -> dict[str, str]:
    return {"content-type": "application/json", "x-deel-signature": deel.signature(key, body)}


@pytest.fixture
def env(webhook):
    # Time-off dates are judged against the time received: the fixtures' (June 2025) against
    # a fixed one, not the day the suite runs.
    return webhook(
        "deel_webhook",
        "pto-logged",
        {
            "TAOPS_DEEL_SIGNING_KEY": KEY,
            "TAOPS_DEEL_SIGNING_KEY_PREVIOUS": None,
            "TAOPS_CLOCK": "2025-06-05T12:00:00Z",
        },
    )


def post_sentinel(client) -> str:
    """Post a valid approval and return its event id: everything before it has arrived."""
    response = client.post(
        "/",
        data=raw("deel_time_off_reviewed_approved.json"),
        headers=signed(raw("deel_time_off_reviewed_approved.json")),
    )
    assert response.status_code == 200
    return response.get_json()["event_ids"][0]


@pytest.mark.parametrize(
    "name",
    [
        "deel_time_off_created.json",
        "deel_time_off_reviewed_approved.json",
        "deel_time_off_updated_canceled.json",
        "deel_time_off_deleted_PARTIAL.json",
    ],
)
def test_each_time_off_event_is_published_to_pto_logged(env, name: str) -> None:
    client, topic = env
    response = client.post("/", data=raw(name), headers=signed(raw(name)))
    assert response.status_code == 200, response.get_data(as_text=True)
    [event_id] = response.get_json()["event_ids"]
    [event] = [e for e in topic.drain_until(event_id) if e.event_id == event_id]
    assert event.source == "deel" and event.type == "pto.logged"
    assert event.entity_key == "absence:7b1f0d4e-2c9a-4f6e-9a1b-3d2e5f6a7b8c"


def test_a_retried_delivery_publishes_the_same_event_id(env) -> None:
    client, topic = env
    body = raw("deel_time_off_created.json")
    first = client.post("/", data=body, headers=signed(body)).get_json()["event_ids"]
    second = client.post("/", data=body, headers=signed(body)).get_json()["event_ids"]
    assert first == second
    arrived = topic.drain_until(first[0])
    assert len(arrived) in (1, 2)
    assert all(e.event_id == first[0] for e in arrived)


def test_the_previous_key_is_accepted_during_rotation(env, monkeypatch) -> None:
    client, _ = env
    monkeypatch.setenv("TAOPS_DEEL_SIGNING_KEY", "new-key")
    monkeypatch.setenv("TAOPS_DEEL_SIGNING_KEY_PREVIOUS", KEY)
    body = raw("deel_time_off_created.json")
    assert client.post("/", data=body, headers=signed(body, KEY)).status_code == 200
    assert client.post("/", data=body, headers=signed(body, "new-key")).status_code == 200


def test_other_deel_events_are_acknowledged_and_not_published(env) -> None:
    client, topic = env
    body = raw("deel_generic_envelope_doc_example.json")
    response = client.post("/", data=body, headers=signed(body))
    assert response.status_code == 200 and response.get_json() == {"ignored": True}
    sentinel = post_sentinel(client)
    assert [e.event_id for e in topic.drain_until(sentinel)] == [sentinel]


def test_every_bad_request_is_refused_with_its_reason_and_publishes_nothing(env, capsys) -> None:
    client, topic = env
    good = raw("deel_time_off_created.json")
    broken_schema = json.loads(good)
    broken_schema["data"]["resource"]["status"] = "MAYBE"
    broken = json.dumps(broken_schema).encode()
    cases = [
        (client.get("/"), 405, "POST only"),
        (client.post("/", data=b"x" * (1024 * 1024 + 1), headers=signed(b"x")), 413, "1 MiB"),
        (client.post("/", data=good, headers={"content-type": "application/json"}), 401, "signature"),
        (client.post("/", data=good, headers=signed(good, "wrong-key")), 401, "signature"),
        (client.post("/", data=b"{not json", headers=signed(b"{not json")), 400, "not JSON"),
        (client.post("/", data=broken, headers=signed(broken)), 400, "data.resource.status"),
    ]
    for response, status, reason in cases:
        assert response.status_code == status
        assert reason in response.get_json()["error"]
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    refusals = [entry for entry in logged if entry["message"].startswith("refused")]
    assert [r["status"] for r in refusals] == [405, 413, 401, 401, 400, 400]
    assert all(r["function"] == "deel_webhook" for r in refusals)
    kept = {doc["reason"] for _, doc in clients.store().query(DEAD_LETTERS)}
    assert "missing or invalid signature" in kept
    assert any(r.startswith("data.resource.status") for r in kept)
    sentinel = post_sentinel(client)
    assert [e.event_id for e in topic.drain_until(sentinel)] == [sentinel]


def test_a_publish_failure_answers_503_so_deel_retries(env) -> None:
    client, _ = env
    pubsub.publisher().delete_topic(topic=pubsub.topic_path("pto-logged"))  # the topic is gone
    body = raw("deel_time_off_created.json")
    response = client.post("/", data=body, headers=signed(body))
    assert response.status_code == 503


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    signature=st.one_of(st.none(), st.text(HEADER_CHARS, max_size=70)),
    sign_it=st.booleans(),
)
def test_random_requests_never_get_a_5xx_or_publish(
    env, body: bytes, signature: str | None, sign_it: bool
) -> None:
    client, _ = env
    headers = signed(body) if sign_it else ({"x-deel-signature": signature} if signature is not None else {})
    response = client.post("/", data=body, headers=headers)
    assert response.status_code < 500
    if response.status_code == 200:
        assert "event_ids" not in response.get_json()  # random bodies are never time-off events
