"""The outbox index (``shared.outbox_index``): handlers find an absence's actions and an
account's customer emails by id, never by searching the outbox, and what they find is
exactly what the search found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import outbox_index
from shared.book import parse_book
from shared.cli import main as taops
from shared.demo import BOOK, EVENTS, UNTIL
from shared.outbox_index import OUTBOX_INDEX, outbox_of
from shared.processing import OUTBOX
from shared.replay import dumps_state, replay
from shared.store import EmbeddedStore, Where, open_store


@pytest.fixture(scope="module")
def demo(policy) -> EmbeddedStore:
    store = EmbeddedStore()
    with EVENTS.open(encoding="utf-8") as lines:
        replay(
            lines, parse_book(json.loads(BOOK.read_text()), str(BOOK)), policy, scheduler=True, store=store
        )
    return store


def _owners(store: EmbeddedStore, field: str) -> set[str]:
    return {str(doc[field]) for _, doc in store.query(OUTBOX) if doc.get(field)}


@pytest.mark.parametrize("field", ["absence_id", "customer_account"])
def test_what_the_index_finds_is_what_searching_the_outbox_finds(demo, field: str) -> None:
    owners = _owners(demo, field)
    assert len(owners) >= 2  # the demo's absences and customer emails
    for value in owners:
        found = demo.run_transaction(lambda tx, v=value: outbox_of(tx.lookup, field, v))
        assert found == demo.query(OUTBOX, Where(field, "==", value))


def test_no_handler_searches_the_outbox_by_absence_or_account(policy) -> None:
    # A fresh store records the shape of every query it answers.
    store = EmbeddedStore()
    with EVENTS.open(encoding="utf-8") as lines:
        replay(
            lines, parse_book(json.loads(BOOK.read_text()), str(BOOK)), policy, scheduler=True, store=store
        )
    assert _owners(store, "absence_id") and _owners(store, "customer_account")
    searched = {
        field for collection, filters, _ in store.query_shapes if collection == OUTBOX for field, _ in filters
    }
    assert not searched & {"absence_id", "customer_account"}


def test_an_index_document_lists_each_action_once_under_its_owner(demo) -> None:
    index = dict(demo.query(OUTBOX_INDEX))
    for field, prefix in outbox_index.OWNERS.items():
        for value in _owners(demo, field):
            ids = index[f"{prefix}:{value}"]["ids"]
            assert len(ids) == len(set(ids))
            assert set(ids) == {i for i, d in demo.query(OUTBOX, Where(field, "==", value))}


def test_views_rebuild_recreates_the_index_of_a_store_written_before_it(demo, tmp_path: Path, capsys) -> None:
    state = demo.dump()
    live = state.pop(OUTBOX_INDEX)
    path = tmp_path / "state.json"
    path.write_text(dumps_state(state), encoding="utf-8")
    assert taops(["views", "rebuild", "--store", f"embedded:{path}", "--at", UNTIL.isoformat()]) == 0
    assert f"the outbox index: {len(live)} owner(s)" in capsys.readouterr().out
    rebuilt = dict(open_store(f"embedded:{path}").query(OUTBOX_INDEX))
    assert {i: sorted(d["ids"]) for i, d in rebuilt.items()} == {i: sorted(d["ids"]) for i, d in live.items()}
