"""The outbox index (``shared.outbox_index``): handlers find an absence's actions and an
account's customer emails by id, never by searching the outbox, and what they find is
exactly what the search found."""

from __future__ import annotations

import json
from datetime import UTC, datetime
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


def _listed(doc: dict) -> list[str]:
    return [*doc.get("ids", []), *(entry.partition("|")[2] for entry in doc.get("sends", []))]


def test_an_index_document_lists_each_action_once_under_its_owner(demo) -> None:
    index = dict(demo.query(OUTBOX_INDEX))
    for field, prefix in outbox_index.OWNERS.items():
        for value in _owners(demo, field):
            ids = _listed(index[f"{prefix}:{value}"])
            assert len(ids) == len(set(ids))
            assert set(ids) == {i for i, d in demo.query(OUTBOX, Where(field, "==", value))}


def test_an_accounts_list_says_when_each_email_was_due(demo) -> None:
    accounts = _owners(demo, "customer_account")
    for value in accounts:
        listed = dict(demo.query(OUTBOX_INDEX))[f"account:{value}"]
        assert "ids" not in listed  # every customer email has its time
        for entry in listed["sends"]:
            due, _, action_id = entry.partition("|")
            doc = demo.get(OUTBOX, action_id)
            assert doc is not None
            assert datetime.fromisoformat(due) == datetime.fromisoformat(doc.get("not_before") or doc["at"])


def test_since_leaves_out_only_the_emails_due_before_it(demo) -> None:
    """What a notice keeps its gap from: the account's emails due from ``since`` on,
    exactly those of the search that are, and fewer than all of them."""
    by_account = {
        a: demo.query(OUTBOX, Where("customer_account", "==", a)) for a in _owners(demo, "customer_account")
    }
    value, every = max(by_account.items(), key=lambda pair: len(pair[1]))
    times = sorted(datetime.fromisoformat(d.get("not_before") or d["at"]) for _, d in every)
    assert len(times) >= 2
    since = times[len(times) // 2]
    found = demo.run_transaction(lambda tx: outbox_of(tx.lookup, "customer_account", value, since=since))
    expected = [(i, d) for i, d in every if datetime.fromisoformat(d.get("not_before") or d["at"]) >= since]
    assert found == expected
    assert 0 < len(found) < len(every)


def test_an_id_listed_without_its_time_is_always_read(demo) -> None:
    """An account's list written by the version before ``sends`` (ids only) still counts."""
    store = EmbeddedStore()
    action_id, doc = next((i, d) for i, d in demo.query(OUTBOX) if d.get("customer_account"))
    account = str(doc["customer_account"])
    store.put(OUTBOX, action_id, doc)
    store.put(OUTBOX_INDEX, f"account:{account}", {"ids": [action_id]})
    late = datetime(2100, 1, 1, tzinfo=UTC)
    found = store.run_transaction(lambda tx: outbox_of(tx.lookup, "customer_account", account, since=late))
    assert found == [(action_id, doc)]


def test_views_rebuild_recreates_the_index_of_a_store_written_before_it(demo, tmp_path: Path, capsys) -> None:
    state = demo.dump()
    live = state.pop(OUTBOX_INDEX)
    path = tmp_path / "state.json"
    path.write_text(dumps_state(state), encoding="utf-8")
    assert taops(["views", "rebuild", "--store", f"embedded:{path}", "--at", UNTIL.isoformat()]) == 0
    assert f"the outbox index: {len(live)} owner(s)" in capsys.readouterr().out
    rebuilt = dict(open_store(f"embedded:{path}").query(OUTBOX_INDEX))
    assert {i: {f: sorted(v) for f, v in d.items()} for i, d in rebuilt.items()} == {
        i: {f: sorted(v) for f, v in d.items()} for i, d in live.items()
    }
