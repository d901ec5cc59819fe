"""``taops sync vitally``: what Vitally would change in the book (``--dry-run``), and the
changes applied as events; Vitally mocked at the HTTP layer in its documented shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import respx

from shared import clients
from shared.cli import main as taops
from shared.processing import PROCESSED
from tests.vitally_pages import BASE, KEY, UNKNOWN_ID, VitallyAccountsApi, example_pages

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A file-backed embedded store holding the example book; its path."""
    path = tmp_path / "state.json"
    monkeypatch.setenv("TAOPS_STORE", f"embedded:{path}")
    monkeypatch.setenv("TAOPS_VITALLY_API_KEY", KEY)
    monkeypatch.setenv("TAOPS_VITALLY_BASE_URL", BASE)
    clients.reset()
    assert taops(["import", str(ROOT / "examples" / "book.json")]) == 0
    yield path
    clients.reset()


def test_taops_sync_vitally_dry_run_prints_each_change_and_the_unknown_accounts(store, capsys) -> None:
    written = store.read_text()
    capsys.readouterr()
    with respx.mock:
        VitallyAccountsApi(respx.mock, example_pages())
        assert taops(["sync", "vitally", "--dry-run"]) == 0
        out = capsys.readouterr().out
        VitallyAccountsApi(respx.mock, example_pages())
        assert taops(["sync", "vitally", "--dry-run", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
    assert store.read_text() == written  # nothing written, not even the cursor
    assert "Acme Corp (acme): health score 8.1 → 3.2, seats used 11000 → 11800" in out
    assert "Initech (initech): versions behind 0 → 3" in out
    assert f"Vitally account {UNKNOWN_ID} (Globex Corporation" in out
    assert out.rstrip().endswith(
        "4 Vitally account(s) on 2 page(s): 2 book account(s) would change, 1 not in the book "
        "(dry run: nothing written)"
    )
    assert answer["dry_run"] is True
    assert answer["changes"][0]["changes"]["seats_used"] == {"old": 11000, "new": 11800}
    assert answer["unknown_accounts"] == [
        {"vitally_id": UNKNOWN_ID, "external_id": "acct_10482", "name": "Globex Corporation"}
    ]


def test_taops_sync_vitally_applies_the_changes_as_events(store, capsys) -> None:
    with respx.mock:
        VitallyAccountsApi(respx.mock, example_pages())
        assert taops(["sync", "vitally"]) == 0
    assert "2 book account(s) changed, 1 not in the book; 3 event(s) applied" in capsys.readouterr().out
    saved = json.loads(store.read_text())
    assert saved["accounts"]["acme"]["seats_used"] == 11800
    assert {doc["type"] for doc in saved[PROCESSED].values()} == {"account.traits", "health.changed"}


def test_taops_sync_vitally_without_a_key_says_which_setting_to_set(monkeypatch, capsys) -> None:
    monkeypatch.delenv("TAOPS_VITALLY_API_KEY", raising=False)
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    assert taops(["sync", "vitally", "--dry-run"]) == 1
    assert "TAOPS_VITALLY_API_KEY is not set" in capsys.readouterr().err
