from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.exceptions import StoreError
from shared.store import EmbeddedStore, Where, open_store
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


_values = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(["a", "b"]), st.just([1]))
_writes = st.lists(
    st.tuples(st.sampled_from("pqrs"), st.one_of(st.none(), st.dictionaries(st.sampled_from("xy"), _values))),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(writes=_writes, field=st.sampled_from("xy"), value=_values)
def test_equality_queries_agree_with_a_full_scan(
    writes: list[tuple[str, dict[str, object] | None]], field: str, value: object
) -> None:
    """The equality index is a cost, never an answer: after any writes, indexed queries
    return exactly what checking every document would."""
    store = EmbeddedStore()
    store.query("c", Where(field, "==", value))  # build the index before the writes
    for doc_id, doc in writes:
        if doc is None:
            store.run_transaction(lambda tx, i=doc_id: tx.delete("c", i))
        else:
            store.put("c", doc_id, doc)
    everything = store.query("c")
    expected = [(i, d) for i, d in everything if Where(field, "==", value).matches(d)]
    assert store.query("c", Where(field, "==", value)) == expected
