"""On the Firestore emulator, the store taops runs on: a 600 KB body of invalid UTF-8 sent
without any credential is a 401 from every webhook, and its dead letter keeps the body's
hash, size and header names, never the body (decoded, it would outgrow a Firestore field,
and nobody outside should be able to fill the store)."""

from __future__ import annotations

from pathlib import Path

import pytest
from functions_framework import create_app

from shared import clients
from shared.processing import DEAD_LETTERS

ROOT = Path(__file__).resolve().parents[2]
INVALID_UTF8 = b"\xff\xfe\xc3" * (600 * 1024 // 3)


@pytest.fixture
def firestore_store(firestore_env: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TAOPS_STORE", f"firestore:{firestore_env}")
    monkeypatch.setenv("TAOPS_DEEL_SIGNING_KEY", "deel-key")
    monkeypatch.setenv("TAOPS_SALESFORCE_TOKEN", "sf-token")
    monkeypatch.setenv("TAOPS_SALESFORCE_ORG_IDS", "00D5e000000KQ2e")
    monkeypatch.setenv("TAOPS_VITALLY_TOKEN", "vitally-token")
    clients.reset()
    yield clients.store()
    clients.reset()


@pytest.mark.parametrize(
    ("target", "path", "headers"),
    [
        ("deel_webhook", "/", {"x-deel-signature": "0" * 64}),
        ("salesforce_webhook", "/?token=guess", {"x-salesforce-org-id": "00D5e000000KQ2eEAG"}),
        ("vitally_webhook", "/", {}),
    ],
)
def test_an_unauthenticated_600_kb_invalid_utf8_body_is_a_401_kept_without_its_body(
    firestore_store, target: str, path: str, headers: dict[str, str]
) -> None:
    client = create_app(target, str(ROOT / "main.py"), "http").test_client()

    response = client.post(path, data=INVALID_UTF8, headers={"content-type": "application/json", **headers})

    assert response.status_code == 401
    [(_, kept)] = firestore_store.query(DEAD_LETTERS)
    assert kept["function"] == target and kept["raw"] is None and kept["unauthenticated"] is True
    assert kept["raw_bytes"] == len(INVALID_UTF8)
    assert {"content-type", "content-length"} <= set(kept["header_names"])
