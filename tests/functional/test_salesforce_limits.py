"""salesforce_webhook's bounds, before anything is published: a message carrying more
records than the policy's ``renewal.max_records_per_message`` is refused whole (400, the
limit named, kept in dead_letters), and a token in the URL from a sender that could have
set a header is accepted but logged as a warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from functions_framework import create_app

from shared import clients
from shared.processing import DEAD_LETTERS
from tests.salesforce_messages import ORG, outbound_message

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sf-token"
CDC = json.loads((ROOT / "tests" / "events" / "salesforce_cdc_opportunity_update_cometd.json").read_text())
URL_WARNING = "token sent in the URL"


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    policy = (ROOT / "shared" / "default_policy.yaml").read_text(encoding="utf-8")
    assert "max_records_per_message: 5000" in policy
    (tmp_path / "policy.yaml").write_text(
        policy.replace("max_records_per_message: 5000", "max_records_per_message: 3")
    )
    monkeypatch.setenv("TAOPS_POLICY", str(tmp_path / "policy.yaml"))
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_SALESFORCE_TOKEN", TOKEN)
    monkeypatch.setenv("TAOPS_SALESFORCE_ORG_IDS", ORG)
    monkeypatch.delenv("TAOPS_REFUSED_TOPIC", raising=False)
    clients.reset()
    yield create_app("salesforce_webhook", str(ROOT / "main.py"), "http").test_client()
    clients.reset()


def _cdc(records: int) -> bytes:
    body = json.loads(json.dumps(CDC))
    header = body["payload"]["ChangeEventHeader"] if "payload" in body else body["ChangeEventHeader"]
    header["recordIds"] = [f"0065e{n:010d}AAF" for n in range(records)]
    return json.dumps(body).encode()


def test_an_outbound_message_over_the_limit_is_refused_whole_and_kept(client) -> None:
    response = client.post(f"/?token={TOKEN}", data=outbound_message(4), headers={"content-type": "text/xml"})
    assert response.status_code == 400
    reason = "Outbound Message: 4 notifications, over the limit of 3 (policy renewal.max_records_per_message)"
    assert response.get_json()["error"] == reason
    [(_, kept)] = clients.store().query(DEAD_LETTERS)
    assert kept["reason"] == reason and kept["raw"].startswith("<?xml")


def test_a_cdc_event_naming_more_records_than_the_limit_is_refused(client) -> None:
    headers = {"content-type": "application/json", "x-taops-token": TOKEN, "x-salesforce-org-id": ORG}
    response = client.post("/", data=_cdc(4), headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        "CDC event: 4 records, over the limit of 3 (policy renewal.max_records_per_message)"
    )
    assert len(clients.store().query(DEAD_LETTERS)) == 1


def test_a_relay_putting_the_token_in_the_url_is_warned_about(client, capsys) -> None:
    json_headers = {"content-type": "application/json"}  # no org id: refused after the token check
    assert client.post(f"/?token={TOKEN}", data=_cdc(1), headers=json_headers).status_code == 401
    assert URL_WARNING in capsys.readouterr().out
    # In a header: no warning. An Outbound Message cannot set one: no warning either.
    assert client.post("/", data=_cdc(1), headers={**json_headers, "x-taops-token": TOKEN}).status_code == 401
    xml = outbound_message(1, org="00D000000000BAD")
    assert client.post(f"/?token={TOKEN}", data=xml, headers={"content-type": "text/xml"}).status_code == 401
    assert URL_WARNING not in capsys.readouterr().out
