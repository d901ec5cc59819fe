"""Logs never echo a field value longer than 200 characters: a signed Deel webhook whose
``timestamp`` and tracking id are 160 KB each is refused with log lines of a few hundred
bytes; the body is still kept in the dead letter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from functions_framework import create_app

from functions.webhooks import MAX_VENDOR_ID_CHARS
from shared import clients
from shared.processing import DEAD_LETTERS
from shared.sources import deel

ROOT = Path(__file__).resolve().parents[2]
KEY = "whsec_test"


@pytest.fixture
def webhook(monkeypatch):
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_DEEL_SIGNING_KEY", KEY)
    clients.reset()
    yield create_app("deel_webhook", str(ROOT / "main.py"), "http").test_client()
    clients.reset()


def test_a_160_kb_timestamp_through_the_deel_webhook_makes_short_log_lines(webhook, capsys) -> None:
    body = json.loads((ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text())
    body["timestamp"] = "2" * 160_000
    body["data"]["meta"]["tracking_id"] = "t" * 160_000  # logged as the vendor's event id
    raw = json.dumps(body).encode()
    response = webhook.post("/", data=raw, headers={"x-deel-signature": deel.signature(KEY, raw)})

    assert response.status_code == 400
    [(_, kept)] = clients.store().query(DEAD_LETTERS)  # the input is kept for inspection
    assert kept["raw"].startswith(raw.decode()[:1000])
    lines = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    refused = [entry for entry in lines if entry["severity"] in ("WARNING", "ERROR")]
    assert refused, lines
    for entry in lines:
        for name, value in entry.items():
            assert len(str(value)) <= 200 + len("… (9999999 chars)"), name
    [line] = [entry for entry in refused if entry.get("vendor_event_id")]
    assert len(line["vendor_event_id"]) <= MAX_VENDOR_ID_CHARS
    assert max(len(json.dumps(entry)) for entry in lines) < 2_000
