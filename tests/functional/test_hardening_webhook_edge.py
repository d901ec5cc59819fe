"""The shared webhook edge decides 400 against 503 by what kind of fault it meets, not by
where: a fault that may clear is retried by the vendor, anything else a body makes taops
raise is refused with one line (a retry would raise it again)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import flask
import pytest

from functions.webhooks import Webhook, handle, parse_json
from shared import clients
from shared.exceptions import TransientError
from shared.processing import DEAD_LETTERS

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    clients.reset()
    yield clients.store()
    clients.reset()


def post(normalize) -> flask.Response:
    hook = Webhook(
        function="test_webhook",
        source="vitally",
        topic="health-changed",
        authenticate=lambda request, raw: True,
        parse=parse_json,
        normalize=normalize,
    )
    with flask.Flask(__name__).test_request_context("/", method="POST", data=b'{"id": "a1"}'):
        return handle(hook, flask.request, NOW)


def test_a_transient_fault_while_normalizing_is_a_503_so_the_vendor_retries(store) -> None:
    def normalize(body, now):
        raise TransientError("Vitally answered 503")

    response = post(normalize)

    assert response.status_code == 503
    assert store.query(DEAD_LETTERS) == []


def test_any_other_exception_while_normalizing_is_a_400_with_one_bounded_line(store, capsys) -> None:
    def normalize(body, now):
        raise KeyError("traits\n" + "x" * 1000)

    response = post(normalize)

    assert response.status_code == 400
    error = json.loads(response.get_data())["error"]
    assert error.startswith("unexpected KeyError: 'traits\\n") and len(error) <= 300
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert kept["reason"] == error and kept["raw"] == '{"id": "a1"}'
    [refusal] = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "refused" in line]
    assert refusal["severity"] == "ERROR" and refusal["error_type"] == "KeyError"
