"""on_renewal_changed and on_health_changed through the real functions framework, with
the embedded store; Vitally's REST API is mocked at the HTTP layer with its documented shape."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from functions_framework import create_app

from shared import clients
from shared.book import import_book, parse_book
from shared.events import EventEnvelope
from shared.handlers import HEALTH_CHANGES
from shared.processing import DEAD_LETTERS, PROCESSED
from shared.sources import salesforce as sf
from shared.sources import vitally
from tests.pubsub_events import cloud_event as pubsub_cloud_event

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, book_data, policy):
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.delenv("TAOPS_VITALLY_API_KEY", raising=False)
    clients.reset()
    import_book(clients.store(), parse_book(book_data), policy)
    yield clients.store()
    clients.reset()


def client(target: str):
    return create_app(target, str(ROOT / "main.py"), "cloudevent").test_client()


def cloud_event(event: EventEnvelope | bytes, topic: str) -> tuple[dict, bytes]:
    if isinstance(event, bytes):
        return pubsub_cloud_event(event, topic)
    return pubsub_cloud_event(event.to_json(), topic, event.attributes())


def renewal_event(**changes) -> EventEnvelope:
    body = json.loads((EVENTS / "salesforce_cdc_opportunity_update_cometd.json").read_text())
    body["payload"].update({"AccountId": "001ACME", "Type": "Renewal", **changes})
    [event] = sf.normalize_cdc(body, NOW)
    return event


def test_a_renewal_opportunity_keeps_the_accounts_renewal_current(store) -> None:
    headers, body = cloud_event(renewal_event(CloseDate="2027-01-15", Amount=480000.0), "renewal-changed")
    response = client("on_renewal_changed").post("/", headers=headers, data=body)
    assert response.status_code == 200
    acme = store.get("accounts", "acme")
    assert (acme["renewal_date"], acme["renewal_stage"], acme["renewal_amount"]) == (
        "2027-01-15",
        "Negotiation/Review",
        480000.0,
    )
    assert acme["renewal_opportunity_id"] == "0065e00000KqLm2AAF"


def test_the_raw_pubsub_push_body_is_accepted_too(store) -> None:
    event = renewal_event(CloseDate="2027-02-01")
    push = {
        "message": {
            "data": base64.b64encode(event.to_json()).decode(),
            "messageId": "9",
            "publishTime": "2026-11-22T12:00:00Z",
            "attributes": event.attributes(),
        },
        "subscription": "projects/taops-local/subscriptions/renewal-changed",
    }
    response = client("on_renewal_changed").post("/", json=push)
    assert response.status_code == 200
    assert store.get("accounts", "acme")["renewal_date"] == "2027-02-01"


def test_an_older_renewal_update_arriving_late_is_ignored(store) -> None:
    newer = renewal_event(CloseDate="2027-03-01")
    older_body = json.loads((EVENTS / "salesforce_cdc_opportunity_update_cometd.json").read_text())
    older_body["payload"].update({"AccountId": "001ACME", "Type": "Renewal", "CloseDate": "2026-12-01"})
    older_body["payload"]["ChangeEventHeader"].update(
        commitTimestamp=1717059600000 - 60_000, sequenceNumber=0
    )
    [older] = sf.normalize_cdc(older_body, NOW)
    app = client("on_renewal_changed")
    for event in (newer, older):
        headers, body = cloud_event(event, "renewal-changed")
        assert app.post("/", headers=headers, data=body).status_code == 200
    assert store.get("accounts", "acme")["renewal_date"] == "2027-03-01"
    assert store.get(PROCESSED, older.marker_id)["outcome"] == "stale"


def test_an_opportunity_of_an_unknown_account_is_acknowledged_and_kept(store, capsys) -> None:
    event = renewal_event(AccountId="001NOPE")
    event = event.model_copy(
        update={
            "entity_key": "opportunity:006UNKNOWN",
            "payload": {**event.payload, "opportunity_id": "006UNKNOWN"},
        }
    )
    headers, body = cloud_event(event, "renewal-changed")
    assert client("on_renewal_changed").post("/", headers=headers, data=body).status_code == 200
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert "001NOPE" in kept["reason"] and kept["event_id"] == event.event_id


def test_a_message_that_is_not_an_event_is_acknowledged_and_kept(store) -> None:
    headers, body = cloud_event(b"not an envelope", "renewal-changed")
    assert client("on_renewal_changed").post("/", headers=headers, data=body).status_code == 200
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert kept["raw"] == "not an envelope"


def health_event(score: float) -> EventEnvelope:
    ping = json.loads((EVENTS / "vitally_playbook_webhook_UNCONFIRMED.json").read_text())
    ping["match"]["account"].update(id="vit-acme", externalId="acme", healthScore=score)
    [event] = vitally.normalize(ping, NOW)
    return event


def test_a_health_category_change_is_recorded_once(store) -> None:
    app = client("on_health_changed")
    headers, body = cloud_event(health_event(3.1), "health-changed")
    assert app.post("/", headers=headers, data=body).status_code == 200
    assert app.post("/", headers=headers, data=body).status_code == 200  # redelivered
    acme = store.get("accounts", "acme")
    assert (acme["health_score"], acme["health_category"]) == (3.1, "red")
    [(_, change)] = store.query(HEALTH_CHANGES)
    assert (change["account_id"], change["old_category"], change["new_category"]) == ("acme", "green", "red")


def test_a_score_within_the_same_category_records_no_change(store) -> None:
    headers, body = cloud_event(health_event(9.0), "health-changed")
    assert client("on_health_changed").post("/", headers=headers, data=body).status_code == 200
    assert store.get("accounts", "acme")["health_score"] == 9.0
    assert store.query(HEALTH_CHANGES) == []


@respx.mock
def test_with_vitally_credentials_the_rest_score_wins_over_the_webhook(store, monkeypatch) -> None:
    monkeypatch.setenv("TAOPS_VITALLY_API_KEY", "secret_key")
    monkeypatch.setenv("TAOPS_VITALLY_BASE_URL", "https://acme.rest.vitally.io")
    account = json.loads((EVENTS / "vitally_account_object.json").read_text())
    route = respx.get("https://acme.rest.vitally.io/resources/accounts/vit-acme").mock(
        return_value=httpx.Response(200, json={**account, "id": "vit-acme", "healthScore": 5.5})
    )
    headers, body = cloud_event(health_event(2.0), "health-changed")
    assert client("on_health_changed").post("/", headers=headers, data=body).status_code == 200
    assert route.calls.last.request.headers["authorization"] == "Basic c2VjcmV0X2tleTo="
    assert store.get("accounts", "acme")["health_category"] == "yellow"


@respx.mock
def test_a_vitally_outage_is_retried_and_changes_nothing(store, monkeypatch) -> None:
    monkeypatch.setenv("TAOPS_VITALLY_API_KEY", "secret_key")
    respx.get(url__regex=r".*/resources/accounts/vit-acme").mock(return_value=httpx.Response(503))
    headers, body = cloud_event(health_event(2.0), "health-changed")
    response = client("on_health_changed").post("/", headers=headers, data=body)
    assert response.status_code == 500  # raise → Pub/Sub redelivers
    assert store.get("accounts", "acme")["health_category"] == "green"
    assert store.query(PROCESSED) == []
