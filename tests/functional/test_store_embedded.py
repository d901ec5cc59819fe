from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2),
    st.sampled_from([-1.5, 0.5, 1.0]),
    st.sampled_from(["", "a", "b"]),
)
_maps = st.just({"k": 1})
_values = st.one_of(_scalars, st.lists(st.one_of(_scalars, _maps), max_size=3), _maps)
_writes = st.lists(
    st.tuples(st.sampled_from("pqrs"), st.one_of(st.none(), st.dictionaries(st.sampled_from("xy"), _values))),
    max_size=25,
)
_ordered = st.one_of(
    st.booleans(), st.integers(-2, 2), st.sampled_from([-1.5, 0.5, 1.0]), st.sampled_from(["", "a"])
)
_field = st.sampled_from("xy")
_filters = st.one_of(
    st.builds(Where, _field, st.just("=="), _values),
    st.builds(
        Where, _field, st.just("array_contains"), st.one_of(_scalars.filter(lambda v: v is not None), _maps)
    ),
    st.builds(Where, _field, st.sampled_from(["<", "<=", ">", ">="]), _ordered),
)
_queries = st.lists(_filters, min_size=1, max_size=3).filter(
    lambda where: sum(w.op == "array_contains" for w in where) <= 1
)


@settings(max_examples=400, deadline=None)
@given(writes=_writes, where=_queries, build_first=st.booleans())
def test_indexed_queries_agree_with_a_full_scan(
    writes: list[tuple[str, dict[str, object] | None]], where: list[Where], build_first: bool
) -> None:
    """The indexes are a cost, never an answer: after any writes, equality, list-member,
    range and combined queries return exactly what checking every document would."""
    store = EmbeddedStore()
    if build_first:
        store.query("c", *where)  # the indexes are then kept up to date by the writes
    state: dict[str, dict[str, object]] = {}
    for doc_id, doc in writes:
        if doc is None:
            store.run_transaction(lambda tx, i=doc_id: tx.delete("c", i))
            state.pop(doc_id, None)
        else:
            store.put("c", doc_id, doc)
            state[doc_id] = doc
    expected = [(i, state[i]) for i in sorted(state) if all(w.matches(state[i]) for w in where)]
    assert store.query("c", *where) == expected


def test_filters_firestore_refuses_are_refused_when_built() -> None:
    with pytest.raises(StoreError, match="number, string or boolean"):
        Where("due_at", "<=", None)
    with pytest.raises(StoreError):
        Where("due_at", ">", float("nan"))
    with pytest.raises(StoreError, match="None"):
        Where("tags", "array_contains", None)


# -- cost: the indexes visit the candidates, not the collection ------------------------

_DUE = "2026-03-01T00:00:00Z"


@pytest.fixture(scope="module")
def timers() -> EmbeddedStore:
    """100,000 timers; every 10,000th is due (10 in all) and tagged "rare"; each person
    holds 10 timers."""
    store = EmbeddedStore()
    store.put_many(
        (
            "timers",
            f"t{i:06d}",
            {
                "job": "sla-check" if i % 2 else "other",
                "due_at": "2026-02-01T00:00:00Z"
                if i % 10_000 == 1
                else f"2026-04-{1 + i % 28:02d}T00:00:00Z",
                "ends_at": f"2026-05-{1 + i % 28:02d}T00:00:00Z",
                "person": f"p{i % 10_000}",
                "tags": ["rare", "x"] if i % 10_000 == 1 else ["common"],
            },
        )
        for i in range(100_000)
    )
    return store


@pytest.fixture
def visited(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """The documents ``Where.matches`` is evaluated on during the test."""
    seen: set[int] = set()
    matches = Where.matches

    def counting(self: Where, doc: Mapping[str, Any]) -> bool:
        seen.add(id(doc))
        return matches(self, doc)

    monkeypatch.setattr(Where, "matches", counting)
    return seen


_DUE_IDS = [f"t{i:06d}" for i in range(1, 100_000, 10_000)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        pytest.param((Where("due_at", "<=", _DUE),), _DUE_IDS, id="range"),
        pytest.param((Where("due_at", "<", _DUE), Where("due_at", ">=", "2026")), _DUE_IDS, id="between"),
        # the equality filter holds 50,000 candidates, the range 10: the range wins
        pytest.param((Where("job", "==", "sla-check"), Where("due_at", "<=", _DUE)), _DUE_IDS, id="eq+range"),
        # the range holds every timer, the equality 10: the equality wins
        pytest.param(
            (Where("person", "==", "p1"), Where("ends_at", ">", "2026-04-01T00:00:00Z")),
            _DUE_IDS,
            id="range+eq",
        ),
        pytest.param((Where("tags", "array_contains", "rare"),), _DUE_IDS, id="array_contains"),
        pytest.param(
            (Where("tags", "array_contains", "rare"), Where("ends_at", ">", "2026")),
            _DUE_IDS,
            id="array_contains+range",
        ),
        pytest.param((Where("due_at", ">", "2027"),), [], id="empty"),
    ],
)
def test_an_indexed_query_visits_its_candidates_not_the_collection(
    timers: EmbeddedStore, visited: set[int], where: tuple[Where, ...], expected: list[str]
) -> None:
    reads = timers.reads
    found = timers.query("timers", *where)
    assert [i for i, _ in found] == expected
    assert len(visited) <= 100
    assert timers.reads - reads == max(1, len(expected))  # the billing model is unchanged


def test_the_range_index_follows_commits(timers: EmbeddedStore, visited: set[int]) -> None:
    due = Where("due_at", "<=", _DUE)
    timers.query("timers", due)
    moved = timers.get("timers", "t000001")
    assert moved is not None
    timers.put_many(
        [
            ("timers", "t000001", {**moved, "due_at": "2026-06-01T00:00:00Z"}),
            ("timers", "new", {"due_at": _DUE}),
        ]
    )
    try:
        assert [i for i, _ in timers.query("timers", due)] == ["new", *_DUE_IDS[1:]]
        assert len(visited) <= 100
    finally:  # the fixture is shared by the module
        timers.put("timers", "t000001", moved)
        timers.run_transaction(lambda tx: tx.delete("timers", "new"))


def test_a_dump_copies_unless_told_the_store_is_handed_over() -> None:
    store = EmbeddedStore()
    store.put("b", "2", {"tags": ["x"]})
    store.put("a", "1", {"n": 1})
    copied = store.dump()
    copied["b"]["2"]["tags"].append("y")
    assert store.get("b", "2") == {"tags": ["x"]}  # a copy: the store is untouched
    handed = store.dump(copy=False)
    assert handed == store.dump() == {"a": {"1": {"n": 1}}, "b": {"2": {"tags": ["x"]}}}
    assert list(handed) == ["a", "b"]


def test_a_document_read_is_a_copy_at_every_depth() -> None:
    store = EmbeddedStore()
    written = {"n": 1, "tags": ["x", {"deep": [1]}], "meta": {"k": "v"}}
    store.put("c", "1", written)
    written["tags"].append("from the writer")  # the store kept its own copy
    for doc in (store.get("c", "1"), store.query("c")[0][1], store.query("c", Where("n", "==", 1))[0][1]):
        assert doc is not None
        doc["n"] = 2
        doc["tags"][1]["deep"].append(2)
        doc["meta"]["k"] = "changed"
    assert store.get("c", "1") == {"n": 1, "tags": ["x", {"deep": [1]}], "meta": {"k": "v"}}


def test_an_equality_and_range_query_answers_alike_whichever_way_it_narrows() -> None:
    """Few pending among many due (the range checked on each candidate), and many pending
    among few due (the range's slice intersected): the same answers as each filter alone."""
    store = EmbeddedStore()
    writes = [
        ("outbox", f"a{n:03d}", {"status": "sent", "not_before": f"2026-01-{n % 28 + 1:02d}"})
        for n in range(200)
    ]
    writes += [
        ("outbox", f"p{n:02d}", {"status": "pending", "not_before": f"2026-01-{n + 1:02d}"})
        for n in range(20)
    ]
    writes += [
        ("outbox", "none", {"status": "pending", "not_before": None}),
        ("outbox", "n", {"status": "pending"}),
    ]
    store.put_many(writes)
    for cutoff in ("2026-01-05", "2026-01-15", "2026-02-01"):
        expected = sorted(
            i
            for i, d in store.query("outbox")
            if d.get("status") == "pending" and str(d.get("not_before") or "~") <= cutoff
        )
        query = store.query("outbox", Where("status", "==", "pending"), Where("not_before", "<=", cutoff))
        assert [i for i, _ in query] == expected
    for op, bound in (("<", "2026-12-31"), (">", "2026-01-01"), (">=", "2026-01-02"), ("<=", "2026-01-02")):
        wide = Where("not_before", op, bound)  # a range matching almost everything
        expected = sorted(i for i, d in store.query("outbox", wide) if d.get("status") == "pending")
        assert [i for i, _ in store.query("outbox", Where("status", "==", "pending"), wide)] == expected
    early = store.query("outbox", Where("not_before", ">", "2026-01-27"), Where("status", "==", "sent"))
    assert [i for i, _ in early] == [f"a{n:03d}" for n in range(200) if n % 28 + 1 > 27]


def test_remembered_answers_follow_every_change_to_what_they_filter_on() -> None:
    """Queries asked again and again between writes (to the filtered fields, to other
    fields, adding and removing documents) answer what a scan of the documents answers."""
    import random

    rng = random.Random(7)
    store = EmbeddedStore()
    queries = [
        (Where("a", "==", "x"),),
        (Where("a", "==", "y"), Where("n", ">=", 2)),
        (Where("tags", "array_contains", "t1"),),
        (Where("n", "<", 3),),
        (Where("a", "in", ["x", "z"]),),
        (Where("a", "==", "x"), Where("tags", "array_contains", "t2")),
    ]
    for step in range(600):
        doc_id = f"d{rng.randrange(12)}"
        roll = rng.random()
        if roll < 0.15:
            store.run_transaction(lambda tx, doc_id=doc_id: tx.delete("c", doc_id))
        elif roll < 0.6:
            doc = {
                "a": rng.choice(["x", "y", "z"]),
                "n": rng.randrange(5),
                "tags": rng.sample(["t1", "t2", "t3"], rng.randrange(3)),
                "other": step,
            }
            store.put("c", doc_id, doc)
        else:  # a write to a field no query filters on
            current = store.get("c", doc_id)
            if current is not None:
                store.put("c", doc_id, {**current, "other": step})
        everything = store.query("c")
        for where in queries:
            expected = [i for i, d in everything if all(w.matches(d) for w in where)]
            assert [i for i, _ in store.query("c", *where)] == expected, (step, where)
