"""The embedded store: a working in-process implementation of the store port.

Used by the demo, replay and the fast test tiers. Transactions are optimistic, like
Firestore's from the client's point of view: reads record each document's revision, the
commit checks them under a lock and runs the function again when another writer got there
first. With a ``path`` the state is loaded from, and saved after every commit to, one
JSON file (``{collection: {id: document}}``), so CLI runs can share it.
"""

from __future__ import annotations

import json
import os
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from shared.exceptions import ContentionError, StoreError
from shared.store.base import (
    RANGE_OPS,
    AlreadyExistsError,
    Document,
    Store,
    Transaction,
    Where,
    check_document,
    check_id,
    check_query,
    range_kind,
)

T = TypeVar("T")


def _clone(value: Any) -> Any:
    """A copy of a JSON value (documents are checked to be JSON on write): several times
    cheaper than ``copy.deepcopy``, which the replay of a long history would spend most
    of its time in."""
    kind = type(value)
    if kind is dict:
        # Most values are scalars: copy them without a call each.
        return {key: item if type(item) not in _NESTED else _clone(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) not in _NESTED else _clone(item) for item in value]
    return value


_NESTED = (dict, list)
# How many query answers the store remembers, each valid until its collection changes.
_ANSWERS_KEPT = 4096


def _query_key(collection: str, where: tuple[Where, ...]) -> tuple[Any, ...] | None:
    """A hashable name for a query, or None when a value (a list for ``in``) has none."""
    # The value's type is part of the name: True and 1 are equal in Python, not in a query.
    key = (collection, *((w.field, w.op, type(w.value).__name__, w.value) for w in where))
    try:
        hash(key)
    except TypeError:
        return None
    return key


_Key = tuple[str, str]


class _Conflict(Exception):
    pass


class _EmbeddedTransaction(Transaction):
    def __init__(self, store: EmbeddedStore) -> None:
        self._store = store
        self._read: dict[_Key, int] = {}
        self._queried: dict[str, int] = {}
        self._writes: dict[_Key, Document | None] = {}
        self._creates: set[_Key] = set()

    def _before_write_check(self) -> None:
        if self._writes:
            raise StoreError("read after write in a transaction: do every read first")

    def get(self, collection: str, doc_id: str) -> Document | None:
        check_id(collection, doc_id)
        self._before_write_check()
        doc, revision = self._store._snapshot(collection, doc_id)
        # The first read's revision is what the commit checks: a document read again after
        # another writer changed it must still conflict (the first copy was acted on).
        self._read.setdefault((collection, doc_id), revision)
        return doc

    def query(self, collection: str, *where: Where, limit: int | None = None) -> list[tuple[str, Document]]:
        check_id(collection, "query")
        check_query(where, limit)
        self._before_write_check()
        results, revision = self._store._query_snapshot(collection, where, limit)
        self._queried[collection] = revision
        for doc_id, _ in results:
            self._read.setdefault((collection, doc_id), self._store._revision(collection, doc_id))
        return results

    def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        check_id(collection, doc_id)
        self._writes[(collection, doc_id)] = check_document(doc)

    def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        check_id(collection, doc_id)
        self._writes[(collection, doc_id)] = check_document(doc)
        self._creates.add((collection, doc_id))

    def delete(self, collection: str, doc_id: str) -> None:
        check_id(collection, doc_id)
        self._writes[(collection, doc_id)] = None


def _keyable(value: Any) -> bool:
    return not isinstance(value, dict | list)


class _EqualityIndex:
    """Ids by the value of one field, so an equality query reads its matches instead of
    scanning the collection (replaying a long history queries a growing outbox on every
    event). Built the first time a field is queried with ``==``, kept up to date on every
    commit. Values that cannot be keys (lists, objects) are kept aside and always
    checked, so the index never changes a query's answer, only its cost. (A key may also
    gather values Firestore tells apart, ``True`` and ``1``: every candidate is checked.)"""

    def __init__(self, field: str, docs: Mapping[str, Document]) -> None:
        self.field = field
        self.ids: dict[Any, set[str]] = {}
        self.unkeyed: set[str] = set()
        for doc_id, doc in docs.items():
            self.add(doc_id, doc)

    def add(self, doc_id: str, doc: Document) -> None:
        if self.field not in doc:
            return
        value = doc[self.field]
        if not _keyable(value):
            self.unkeyed.add(doc_id)
        else:
            self.ids.setdefault(value, set()).add(doc_id)

    def remove(self, doc_id: str, doc: Document) -> None:
        value = doc.get(self.field)
        if not _keyable(value):
            self.unkeyed.discard(doc_id)
        elif self.field in doc:
            bucket = self.ids.get(value)
            if bucket is not None:
                bucket.discard(doc_id)
                if not bucket:
                    del self.ids[value]

    def count(self, value: Any) -> int:
        return len(self.ids.get(value, ())) + len(self.unkeyed)

    def candidates(self, value: Any) -> set[str]:
        return self.ids.get(value, set()) | self.unkeyed


class _MemberIndex:
    """Ids by each member of a list field, for ``array_contains``. Members that cannot be
    keys (objects) are left out: the value looked for is a key, and never equals them."""

    def __init__(self, field: str, docs: Mapping[str, Document]) -> None:
        self.field = field
        self.ids: dict[Any, set[str]] = {}
        for doc_id, doc in docs.items():
            self.add(doc_id, doc)

    def _members(self, doc: Document) -> list[Any]:
        value = doc.get(self.field)
        return [m for m in value if _keyable(m)] if isinstance(value, list) else []

    def add(self, doc_id: str, doc: Document) -> None:
        for member in self._members(doc):
            self.ids.setdefault(member, set()).add(doc_id)

    def remove(self, doc_id: str, doc: Document) -> None:
        for member in self._members(doc):
            bucket = self.ids.get(member)
            if bucket is not None:
                bucket.discard(doc_id)
                if not bucket:
                    del self.ids[member]

    def count(self, value: Any) -> int:
        return len(self.ids.get(value, ()))

    def candidates(self, value: Any) -> set[str]:
        return set(self.ids.get(value, ()))


_value_of = itemgetter(0)


class _RangeIndex:
    """``(value, id)`` of one field, sorted within each type a range compares
    (``range_kind``), so a range query bisects to its candidates instead of scanning
    (a replay asks "what is due" on every tick). Built on the field's first range query,
    kept up to date on every commit; values no range matches (None, lists, objects) are
    left out, as no range filter can match them."""

    def __init__(self, field: str, docs: Mapping[str, Document]) -> None:
        self.field = field
        self.sorted: dict[str, list[tuple[Any, str]]] = {}
        for doc_id, doc in docs.items():
            kind = range_kind(doc.get(self.field))
            if kind is not None:
                self.sorted.setdefault(kind, []).append((doc[self.field], doc_id))
        for entries in self.sorted.values():
            entries.sort()

    def add(self, doc_id: str, doc: Document) -> None:
        kind = range_kind(doc.get(self.field))
        if kind is not None:
            insort(self.sorted.setdefault(kind, []), (doc[self.field], doc_id))

    def remove(self, doc_id: str, doc: Document) -> None:
        kind = range_kind(doc.get(self.field))
        entries = self.sorted.get(kind) if kind is not None else None
        if entries is None:
            return
        entry = (doc[self.field], doc_id)
        at = bisect_left(entries, entry)
        if at < len(entries) and entries[at] == entry:
            del entries[at]

    def span(self, where: list[Where]) -> tuple[list[tuple[Any, str]], int, int]:
        """The slice ``entries[lo:hi]`` every one of ``where`` (range filters on this
        field) can match; empty when they compare different types."""
        kinds = {range_kind(w.value) for w in where}
        kind = kinds.pop()
        entries = self.sorted.get(kind, []) if kind is not None and not kinds else []
        lo, hi = 0, len(entries)
        for w in where:
            if w.op == ">":
                lo = max(lo, bisect_right(entries, w.value, key=_value_of))
            elif w.op == ">=":
                lo = max(lo, bisect_left(entries, w.value, key=_value_of))
            elif w.op == "<":
                hi = min(hi, bisect_left(entries, w.value, key=_value_of))
            else:
                hi = min(hi, bisect_right(entries, w.value, key=_value_of))
        return entries, lo, max(lo, hi)


def _ids_between(entries: list[tuple[Any, str]], lo: int, hi: int) -> list[str]:
    return [doc_id for _, doc_id in entries[lo:hi]]


_Index = _EqualityIndex | _MemberIndex | _RangeIndex
_I = TypeVar("_I", _EqualityIndex, _MemberIndex, _RangeIndex)


class EmbeddedStore(Store):
    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_attempts: int = 25) -> None:
        self.max_attempts = max_attempts
        self._lock = threading.RLock()
        self._docs: dict[str, dict[str, Document]] = {}
        self._revisions: dict[_Key, int] = {}
        # A query's result can change without any document it returned changing (a new
        # match appears), so each collection also carries a revision for queries.
        self._collection_revisions: dict[str, int] = {}
        # {collection: {(index class name, field): index}}, each built on first use.
        self._indexes: dict[str, dict[tuple[str, str], _Index]] = {}
        # Query answers (ids) by query, with the collection revision they hold for.
        self._answers: dict[tuple[Any, ...], tuple[int, list[str]]] = {}
        self._clock = 0
        self._path = Path(path) if path else None
        if self._path and self._path.exists():
            self._load(self._path)
        self.reads = 0
        self.writes = 0
        # Every query shape run: (collection, ((field, op), ...), limited). What the
        # Firestore indexes in infra/ must serve; tests/functional/test_infra.py checks it.
        self.query_shapes: set[tuple[str, tuple[tuple[str, str], ...], bool]] = set()

    # -- persistence -------------------------------------------------------------------

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot load embedded state from {path}: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise StoreError(f"{path} is not a {{collection: {{id: document}}}} state file")
        self._docs = {c: {i: check_document(d) for i, d in docs.items()} for c, docs in data.items()}

    def _save(self) -> None:
        if not self._path:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(self._path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.dump(), indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(self._path)

    # -- reads -------------------------------------------------------------------------

    def _revision(self, collection: str, doc_id: str) -> int:
        return self._revisions.get((collection, doc_id), 0)

    def _snapshot(self, collection: str, doc_id: str) -> tuple[Document | None, int]:
        with self._lock:
            self.reads += 1
            doc = self._docs.get(collection, {}).get(doc_id)
            return (_clone(doc) if doc is not None else None), self._revision(collection, doc_id)

    def _query_snapshot(
        self, collection: str, where: tuple[Where, ...], limit: int | None
    ) -> tuple[list[tuple[str, Document]], int]:
        with self._lock:
            self.query_shapes.add(
                (collection, tuple(sorted((w.field, w.op) for w in where)), limit is not None)
            )
            docs = self._docs.get(collection, {})
            revision = self._collection_revisions.get(collection, 0)
            key = _query_key(collection, where)
            cached = self._answers.get(key) if key is not None else None
            if cached is not None and cached[0] == revision:
                found = cached[1]  # nothing in the collection changed since: the same answer
            else:
                ids = self._candidates(collection, docs, where)
                found = sorted(i for i in ids if all(w.matches(docs[i]) for w in where))
                if key is not None:
                    if len(self._answers) >= _ANSWERS_KEPT:
                        self._answers.clear()
                    self._answers[key] = (revision, found)
            out = [(i, _clone(docs[i])) for i in found[:limit]]
            self.reads += max(1, len(out))
            return out, revision

    def _index(self, collection: str, kind: type[_I], field: str) -> _I:
        indexes = self._indexes.setdefault(collection, {})
        index = indexes.get((kind.__name__, field))
        if index is None:
            index = indexes[(kind.__name__, field)] = kind(field, self._docs.get(collection, {}))
        assert isinstance(index, kind)
        return index

    def _candidates(
        self, collection: str, docs: Mapping[str, Document], where: tuple[Where, ...]
    ) -> Iterable[str]:
        """The ids to check: the smallest set one index offers for a filter of the query
        (sizes are known before any id is gathered), else every id."""
        plans: list[tuple[int, Callable[[], Iterable[str]]]] = []
        ranges: dict[str, list[Where]] = {}
        for w in where:
            if w.op == "==" and _keyable(w.value):
                equal = self._index(collection, _EqualityIndex, w.field)
                plans.append((equal.count(w.value), partial(equal.candidates, w.value)))
            elif w.op == "array_contains" and _keyable(w.value):
                members = self._index(collection, _MemberIndex, w.field)
                plans.append((members.count(w.value), partial(members.candidates, w.value)))
            elif w.op in RANGE_OPS:
                ranges.setdefault(w.field, []).append(w)
        for field, on_field in ranges.items():
            entries, lo, hi = self._index(collection, _RangeIndex, field).span(on_field)
            plans.append((hi - lo, partial(_ids_between, entries, lo, hi)))
        if not plans:
            return docs
        return min(plans, key=_value_of)[1]()

    def get(self, collection: str, doc_id: str) -> Document | None:
        check_id(collection, doc_id)
        return self._snapshot(collection, doc_id)[0]

    def query(self, collection: str, *where: Where, limit: int | None = None) -> list[tuple[str, Document]]:
        check_id(collection, "query")
        check_query(where, limit)
        return self._query_snapshot(collection, where, limit)[0]

    def collections(self) -> list[str]:
        with self._lock:
            return sorted(c for c, docs in self._docs.items() if docs)

    # -- transactions ------------------------------------------------------------------

    def _commit(self, tx: _EmbeddedTransaction) -> None:
        with self._lock:
            for key, revision in tx._read.items():
                if self._revision(*key) != revision:
                    raise _Conflict
            for collection, revision in tx._queried.items():
                if self._collection_revisions.get(collection, 0) != revision:
                    raise _Conflict
            for collection, doc_id in tx._creates:
                if doc_id in self._docs.get(collection, {}):
                    raise AlreadyExistsError(f"{collection}/{doc_id} already exists")
            self._clock += 1
            for (collection, doc_id), doc in tx._writes.items():
                docs = self._docs.setdefault(collection, {})
                old = docs.pop(doc_id, None)
                for index in self._indexes.get(collection, {}).values():
                    if old is not None:
                        index.remove(doc_id, old)
                    if doc is not None:
                        index.add(doc_id, doc)
                if doc is not None:
                    docs[doc_id] = doc
                self._revisions[(collection, doc_id)] = self._clock
                self._collection_revisions[collection] = self._clock
                self.writes += 1
            if tx._writes:
                self._save()

    def run_transaction(self, fn: Callable[[Transaction], T]) -> T:
        for _ in range(self.max_attempts):
            tx = _EmbeddedTransaction(self)
            result = fn(tx)
            try:
                self._commit(tx)
            except _Conflict:
                continue
            return result
        raise ContentionError(f"transaction lost to concurrent writers {self.max_attempts} times")
