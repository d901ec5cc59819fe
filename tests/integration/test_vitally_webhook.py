"""``vitally_webhook`` through the real functions framework, publishing to the Pub/Sub emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import clients
from shared.processing import DEAD_LETTERS

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = (ROOT / "tests" / "events" / "vitally_playbook_webhook_UNCONFIRMED.json").read_bytes()
TOKEN = "vitally-url-secret"
JSON = {"content-type": "application/json"}
# What an HTTP client can put in a header at all (no control characters or surrogates).
HEADER_CHARS = st.characters(blacklist_categories=("Cc", "Cs"))


@pytest.fixture
def env(webhook):
    return webhook("vitally_webhook", "health-changed", {"TAOPS_VITALLY_TOKEN": TOKEN})


def test_a_playbook_ping_with_the_token_in_the_query_is_published(env) -> None:
    client, probe = env
    response = client.post(f"/?token={TOKEN}", data=PLAYBOOK, headers=JSON)
    assert response.status_code == 200, response.get_data(as_text=True)
    [event_id] = response.get_json()["event_ids"]
    [event] = probe.drain_until(event_id)
    assert event.payload["vitally_id"] == "3f8a2b1c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    assert event.payload["health_score"] == 3.9


def test_the_token_may_come_in_a_header(env) -> None:
    client, _ = env
    response = client.post("/", data=PLAYBOOK, headers={**JSON, "x-taops-token": TOKEN})
    assert response.status_code == 200


def test_bad_requests_are_refused_and_publish_nothing(env) -> None:
    client, probe = env
    cases = [
        (client.put(f"/?token={TOKEN}", data=PLAYBOOK), 405),
        (client.post("/", data=PLAYBOOK, headers=JSON), 401),
        (client.post("/?token=guess", data=PLAYBOOK, headers=JSON), 401),
        (client.post(f"/?token={TOKEN}", data=b"<xml/>", headers=JSON), 400),
        (client.post(f"/?token={TOKEN}", data=json.dumps({"match": {"account": {}}}), headers=JSON), 400),
        (client.post(f"/?token={TOKEN}", data=b"{" * (1024 * 1024 + 1), headers=JSON), 413),
    ]
    assert [r.status_code for r, _ in cases] == [status for _, status in cases]
    assert "match.account.id" in cases[4][0].get_json()["error"]
    # every refused body is kept once: the two 401s sent the same body
    kept = sorted(doc["reason"] for _, doc in clients.store().query(DEAD_LETTERS))
    assert len(kept) == 3 and kept[-1] == "missing or invalid token"
    assert cases[1][0].get_json()["error"] == "missing or invalid token"
    sentinel = client.post(f"/?token={TOKEN}", data=PLAYBOOK, headers=JSON).get_json()["event_ids"][0]
    assert [e.event_id for e in probe.drain_until(sentinel)] == [sentinel]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200), token=st.one_of(st.none(), st.text(HEADER_CHARS, max_size=30)))
def test_random_requests_never_get_a_5xx(env, body: bytes, token: str | None) -> None:
    client, _ = env
    headers = {**JSON, **({"x-taops-token": token} if token else {})}
    response = client.post("/", data=body, headers=headers)
    assert response.status_code < 500
    assert "event_ids" not in (response.get_json() or {})
