"""``salesforce_webhook`` through the real functions framework, publishing to the Pub/Sub emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
TOKEN = "sf-shared-secret"
ORG = "00D5e000000KQ2eEAG"
TWO = (EVENTS / "salesforce_outbound_message_two_notifications.xml").read_bytes()
CDC = (EVENTS / "salesforce_cdc_opportunity_update_cometd.json").read_bytes()
XML = {"content-type": "text/xml; charset=utf-8"}
JSON = {"content-type": "application/json", "x-salesforce-org-id": ORG}


@pytest.fixture
def env(webhook):
    env = {"TAOPS_SALESFORCE_TOKEN": TOKEN, "TAOPS_SALESFORCE_ORG_IDS": f"00Dxx0000000001,{ORG[:15]}"}
    return webhook("salesforce_webhook", "renewal-changed", env)


def test_an_outbound_message_is_acked_after_both_notifications_are_published(env) -> None:
    client, probe = env
    response = client.post(f"/?token={TOKEN}", data=TWO, headers=XML)
    assert response.status_code == 200
    assert "<Ack>true</Ack>" in response.get_data(as_text=True)
    arrived = probe.drain_until("04l5e00000Gx7R0AAJ")
    assert {e.event_id for e in arrived} == {"04l5e00000Gx7QzAAJ", "04l5e00000Gx7R0AAJ"}
    assert {e.payload["opportunity_id"] for e in arrived} == {"0065e00000KqLm2AAF", "0065e00000KqLm3AAF"}


def test_a_cdc_event_from_a_relay_is_published(env) -> None:
    client, probe = env
    response = client.post("/", data=CDC, headers={**JSON, "x-taops-token": TOKEN})
    assert response.status_code == 200
    [event_id] = response.get_json()["event_ids"]
    [event] = probe.drain_until(event_id)
    assert event.entity_key == "opportunity:0065e00000KqLm2AAF"
    assert event.payload["stage"] == "Negotiation/Review"


def test_bad_requests_are_refused_and_publish_nothing(env) -> None:
    client, probe = env
    other_org = TWO.replace(ORG.encode(), b"00D000000000BAD")
    cases = [
        (client.get(f"/?token={TOKEN}"), 405),
        (client.post("/", data=TWO, headers=XML), 401),
        (client.post(f"/?token={TOKEN}", data=other_org, headers=XML), 401),
        (client.post(f"/?token={TOKEN}", data=CDC, headers={"content-type": "application/json"}), 401),
        (client.post(f"/?token={TOKEN}", data=b"<notifications>", headers=XML), 400),
        (client.post(f"/?token={TOKEN}", data=b"{]", headers=JSON), 400),
    ]
    assert [r.status_code for r, _ in cases] == [status for _, status in cases]
    assert "00D000000000BAD is not allowed" in cases[2][0].get_json()["error"]
    assert "organization id missing" in cases[3][0].get_json()["error"]
    client.post(f"/?token={TOKEN}", data=TWO, headers=XML)
    assert {e.event_id for e in probe.drain_until("04l5e00000Gx7R0AAJ")} == {
        "04l5e00000Gx7QzAAJ",
        "04l5e00000Gx7R0AAJ",
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: f"<a>{t}</a>".encode())))
def test_random_bodies_never_get_a_5xx(env, body: bytes) -> None:
    client, _ = env
    response = client.post(f"/?token={TOKEN}", data=body, headers=JSON)
    assert response.status_code in (400, 401)


def test_an_entity_expansion_body_is_refused_with_400(env) -> None:
    client, _ = env
    bomb = (
        (ROOT / "tests" / "events" / "salesforce_outbound_message_opportunity.xml")
        .read_bytes()
        .replace(
            b'<?xml version="1.0" encoding="UTF-8"?>',
            b'<?xml version="1.0"?>'
            b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        )
    )
    response = client.post(f"/?token={TOKEN}", data=bomb, headers=XML)
    assert response.status_code == 400
    assert "DTDForbidden" in response.get_json()["error"]
