from __future__ import annotations

from pathlib import Path

import pytest

from shared.exceptions import StoreError
from shared.store import EmbeddedStore, open_store
from tests.store_contract import DOC, StoreContract


class TestEmbeddedStoreContract(StoreContract):
    @pytest.fixture
    def store(self) -> EmbeddedStore:
        return EmbeddedStore()

    @pytest.fixture
    def other_store(self, store: EmbeddedStore) -> EmbeddedStore:
        return store  # the embedded store lives in one process: every handle is the same


def test_a_file_backed_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    EmbeddedStore(path).put("accounts", "acme", DOC)
    assert EmbeddedStore(path).get("accounts", "acme") == DOC


def test_a_corrupt_state_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("[1, 2")
    with pytest.raises(StoreError, match=str(path)):
        EmbeddedStore(path)


def test_open_store_reads_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAOPS_STORE", f"embedded:{tmp_path / 's.json'}")
    store = open_store()
    store.put("a", "b", {"c": 1})
    assert (tmp_path / "s.json").exists()
    with pytest.raises(StoreError, match="unknown store"):
        open_store("redis")
