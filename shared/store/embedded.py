"""The embedded store: a working in-process implementation of the store port.

Used by the demo, replay and the fast test tiers. Transactions are optimistic, like
Firestore's from the client's point of view: reads record each document's revision, the
commit checks them under a lock and runs the function again when another writer got there
first (a document a query found is checked only if the transaction writes it). With a
``path`` the state is loaded from, and saved after every commit to, one JSON file
(``{collection: {id: document}}``), so CLI runs can share it.
"""

from __future__ import annotations

import json
import os
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Collection, Iterable, Mapping
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
    check_id,
    check_query,
    checked_document,
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
_FLAT: tuple[str, ...] = ()


def _copy(doc: Document, nested: tuple[str, ...]) -> Document:
    """A copy of a stored document whose ``nested`` keys are known: a flat copy in C, then
    a deep copy of those values only (most stored values are strings and numbers)."""
    out = doc.copy()
    for key in nested:
        out[key] = _clone(doc[key])
    return out


# How many query answers the store remembers, each valid until its collection changes.
_ANSWERS_KEPT = 4096


def _query_key(collection: str, where: tuple[Where, ...], limited: bool) -> tuple[Any, ...] | None:
    """A hashable name for a query, or None when a value (a list for ``in``) has none."""
    # The value's type is part of the name: True and 1 are equal in Python, not in a query.
    key = (collection, limited, *((w.field, w.op, type(w.value).__name__, w.value) for w in where))
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
        # Documents queries found, with their revision (checked when written).
        self._found: dict[_Key, int] = {}
        # Each document written, with the keys of it that hold objects or lists; None: deleted.
        self._writes: dict[_Key, tuple[Document, tuple[str, ...]] | None] = {}
        self._creates: set[_Key] = set()
        # Values appended to a list field, by document: merged into it at the commit.
        self._appends: dict[_Key, dict[str, list[str]]] = {}

    def _before_write_check(self) -> None:
        if self._writes or self._appends:
            raise StoreError("read after write in a transaction: do every read first")

    def get(self, collection: str, doc_id: str) -> Document | None:
        check_id(collection, doc_id)
        if self._writes or self._appends:
            self._before_write_check()
        key = (collection, doc_id)
        doc, revision = self._store._snapshot(key)
        # The first read's revision is what the commit checks: a document read again after
        # another writer changed it must still conflict (the first copy was acted on).
        self._read.setdefault(key, revision)
        return doc

    def query(self, collection: str, *where: Where, limit: int | None = None) -> list[tuple[str, Document]]:
        check_id(collection, "query")
        check_query(where, limit)
        if self._writes or self._appends:
            self._before_write_check()
        results, revisions = self._store._query_snapshot(collection, where, limit, revisions=True)
        # Each document found, with its revision: the commit checks it only if this
        # transaction writes the document; a write elsewhere in the collection (a new
        # match included) does not fail it (the port's contract, as Firestore's).
        for (doc_id, _), revision in zip(results, revisions, strict=True):
            self._found.setdefault((collection, doc_id), revision)
        return results

    def lookup(self, collection: str, doc_ids: Iterable[str]) -> dict[str, Document | None]:
        self._before_write_check()
        found: dict[str, Document | None] = {}
        for doc_id in doc_ids:
            check_id(collection, doc_id)
            if doc_id in found:
                continue
            doc, revision = self._store._snapshot((collection, doc_id))
            found[doc_id] = doc
            if doc is not None:
                self._found.setdefault((collection, doc_id), revision)
        return found

    def append(self, collection: str, doc_id: str, field: str, values: Iterable[str]) -> None:
        check_id(collection, doc_id)
        key = (collection, doc_id)
        if key in self._writes:
            raise StoreError(f"{collection}/{doc_id} is written and appended to in one transaction")
        values = list(values)
        if not values:
            return
        pending = self._appends.setdefault(key, {}).setdefault(field, [])
        pending.extend(v for v in values if v not in pending)

    def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        check_id(collection, doc_id)
        if (collection, doc_id) in self._appends:
            raise StoreError(f"{collection}/{doc_id} is written and appended to in one transaction")
        self._writes[(collection, doc_id)] = checked_document(doc)

    def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        check_id(collection, doc_id)
        self._writes[(collection, doc_id)] = checked_document(doc)
        self._creates.add((collection, doc_id))

    def delete(self, collection: str, doc_id: str) -> None:
        check_id(collection, doc_id)
        self._writes[(collection, doc_id)] = None


def _keyable(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _indexed(where: Where) -> bool:
    """Whether a query's filter gets an index (``_candidates`` builds one for it)."""
    return ((where.op == "==" or where.op == "array_contains") and _keyable(where.value)) or (
        where.op in RANGE_OPS
    )


_MISSING = object()


def _same_entry(field: str, old: Document, new: Document) -> bool:
    """Whether ``field`` holds the same value, of the same type, in both versions of a
    document: then every index of the field files the document as it did."""
    before, after = old.get(field, _MISSING), new.get(field, _MISSING)
    return type(before) is type(after) and bool(before == after)


_IdSet = set[str] | frozenset[str]
_NO_INDEXES: dict[tuple[str, str], Any] = {}
# How many times larger than the candidates a range's slice may be and still narrow them.
_SLICE_NARROWS = 4
_NONE: frozenset[str] = frozenset()


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

    def candidates(self, value: Any) -> _IdSet:
        """The ids to check (read only: the index's own set when it can be)."""
        bucket = self.ids.get(value, _NONE)
        return bucket | self.unkeyed if self.unkeyed else bucket


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

    def candidates(self, value: Any) -> _IdSet:
        """The ids to check (read only: the index's own set)."""
        return self.ids.get(value, _NONE)


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


_id_of = itemgetter(1)


def _texts_within(ids: Collection[str], docs: Mapping[str, Document], where: list[Where]) -> list[str]:
    """The ids whose documents' field is a string within the string range filters
    ``where`` (all on that field); one filter, the usual case, is checked inline."""
    field = where[0].field
    if len(where) > 1:
        return [i for i in ids if _text_within(docs[i].get(field), where)]
    op, bound = where[0].op, where[0].value
    if op == "<":
        return [i for i in ids if type(v := docs[i].get(field)) is str and v < bound]
    if op == "<=":
        return [i for i in ids if type(v := docs[i].get(field)) is str and v <= bound]
    if op == ">":
        return [i for i in ids if type(v := docs[i].get(field)) is str and v > bound]
    return [i for i in ids if type(v := docs[i].get(field)) is str and v >= bound]


def _text_within(value: Any, where: list[Where]) -> bool:
    """``all(w.matches(...))`` for range filters on strings, given the field's value (a
    string range matches strings only; a missing field, None, never)."""
    if type(value) is not str:
        return False
    for w in where:
        bound = w.value
        if w.op == "<":
            if not value < bound:
                return False
        elif w.op == "<=":
            if not value <= bound:
                return False
        elif w.op == ">":
            if not value > bound:
                return False
        elif not value >= bound:
            return False
    return True


def _ids_between(entries: list[tuple[Any, str]], lo: int, hi: int) -> list[str]:
    return list(map(_id_of, entries[lo:hi]))


_Index = _EqualityIndex | _MemberIndex | _RangeIndex
_I = TypeVar("_I", _EqualityIndex, _MemberIndex, _RangeIndex)


class EmbeddedStore(Store):
    def __init__(self, path: str | os.PathLike[str] | None = None, *, max_attempts: int = 25) -> None:
        self.max_attempts = max_attempts
        self._lock = threading.RLock()
        self._docs: dict[str, dict[str, Document]] = {}
        # {collection: {id: the keys of the document that hold objects or lists}}
        self._nested: dict[str, dict[str, tuple[str, ...]]] = {}
        self._revisions: dict[_Key, int] = {}
        # A query's result can change without any document it returned changing (a new
        # match appears), so each collection also carries a revision: remembered query
        # answers are checked against it (a transaction's queries are not: see query).
        self._collection_revisions: dict[str, int] = {}
        # {collection: {(index class name, field): index}}, each built on first use.
        self._indexes: dict[str, dict[tuple[str, str], _Index]] = {}
        # Query answers (ids) by query, with the collection revision they were worked out
        # at and the fields they depend on (None: every document and field).
        self._answers: dict[tuple[Any, ...], tuple[int, list[str], tuple[str, ...] | None]] = {}
        # {(collection, field): the clock of the last commit that changed an index of it}
        self._field_revisions: dict[tuple[str, str], int] = {}
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
        checked = {c: {i: checked_document(d) for i, d in docs.items()} for c, docs in data.items()}
        self._docs = {c: {i: doc for i, (doc, _) in docs.items()} for c, docs in checked.items()}
        self._nested = {c: {i: keys for i, (_, keys) in docs.items()} for c, docs in checked.items()}

    def _save(self) -> None:
        if not self._path:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(self._path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.dump(), indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(self._path)

    # -- reads -------------------------------------------------------------------------

    def _snapshot(self, key: _Key) -> tuple[Document | None, int]:
        """A copy of the document at ``key`` (collection, id), and its revision."""
        collection, doc_id = key
        with self._lock:
            self.reads += 1
            docs = self._docs.get(collection)
            doc = docs.get(doc_id) if docs is not None else None
            if doc is None:
                return None, self._revisions.get(key, 0)
            return _copy(doc, self._nested[collection][doc_id]), self._revisions.get(key, 0)

    def _query_snapshot(
        self, collection: str, where: tuple[Where, ...], limit: int | None, *, revisions: bool = False
    ) -> tuple[list[tuple[str, Document]], list[int]]:
        """The documents matching ``where``, as copies, and (with ``revisions``) the
        revision of each."""
        with self._lock:
            docs = self._docs.get(collection, {})
            revision = self._collection_revisions.get(collection, 0)
            key = _query_key(collection, where, limit is not None)
            cached = self._answers.get(key) if key is not None else None
            if cached is not None and (cached[0] == revision or self._unchanged(collection, cached)):
                found = cached[1]  # nothing the answer depends on changed since: the same answer
            else:
                # A remembered answer was first worked out here, so its shape is recorded.
                self.query_shapes.add(
                    (collection, tuple(sorted((w.field, w.op) for w in where)), limit is not None)
                )
                ids, settled = self._candidates(collection, docs, where)
                rest = [w for w in where if not any(w is done for done in settled)]
                if rest:
                    found = sorted(i for i in ids if all(w.matches(docs[i]) for w in rest))
                else:
                    found = sorted(ids)
                if key is not None:
                    if len(self._answers) >= _ANSWERS_KEPT:
                        self._answers.clear()
                    # An answer depends only on which documents there are and the values of
                    # the fields it filters on; when every filter has an index (which then
                    # records each change of its field), later writes to other fields
                    # leave it valid.
                    fields = tuple(w.field for w in where) if where and all(map(_indexed, where)) else None
                    self._answers[key] = (revision, found, fields)
            nested = self._nested.get(collection, {})
            out = [(i, _copy(docs[i], nested[i])) for i in found[:limit]]
            self.reads += max(1, len(out))
            if not revisions:
                return out, []
            known = self._revisions
            return out, [known.get((collection, i), 0) for i, _ in out]

    def _unchanged(self, collection: str, cached: tuple[int, list[str], tuple[str, ...] | None]) -> bool:
        """Whether no commit since ``cached`` was worked out changed how an index of its
        fields files a document (a document added or removed changes every index)."""
        revision, _, fields = cached
        if fields is None:
            return False
        changed = self._field_revisions
        return all(changed.get((collection, field), 0) <= revision for field in fields)

    def _index(self, collection: str, kind: type[_I], field: str) -> _I:
        indexes = self._indexes.setdefault(collection, {})
        index = indexes.get((kind.__name__, field))
        if index is None:
            index = indexes[(kind.__name__, field)] = kind(field, self._docs.get(collection, {}))
        assert isinstance(index, kind)
        return index

    def _candidates(
        self, collection: str, docs: Mapping[str, Document], where: tuple[Where, ...]
    ) -> tuple[Collection[str], list[Where]]:
        """The ids to check, and the filters they are known to match already.

        The ids are the smallest set one index offers for a filter of the query (sizes are
        known before any id is gathered), narrowed by the sets the other equality and
        membership filters' indexes hold (a set intersection, where checking each
        candidate against those filters would cost a call each), else every id. Each
        index's set holds every document its filter matches, so narrowing never loses one.
        Some sets hold exactly the matches: a range's slice (sorted within the one type a
        range compares), and an equality's or membership's set for a string or null (no
        other value is equal to one; a number's set may mix ``1``, ``1.0`` and ``True``).
        The caller checks the other filters on what is left."""
        plans: list[tuple[int, Callable[[], Collection[str]], list[Where]]] = []
        sets: list[tuple[Callable[[], _IdSet], list[Where]]] = []
        slices: list[tuple[int, Callable[[], Collection[str]], list[Where]]] = []
        ranges: dict[str, list[Where]] = {}
        for w in where:
            exact = [w] if w.value is None or type(w.value) is str else []
            if w.op == "==" and _keyable(w.value):
                equal = self._index(collection, _EqualityIndex, w.field)
                getter = partial(equal.candidates, w.value)
                sets.append((getter, exact if not equal.unkeyed else []))
                plans.append((equal.count(w.value), getter, sets[-1][1]))
            elif w.op == "array_contains" and _keyable(w.value):
                members = self._index(collection, _MemberIndex, w.field)
                getter = partial(members.candidates, w.value)
                sets.append((getter, exact))
                plans.append((members.count(w.value), getter, exact))
            elif w.op in RANGE_OPS:
                ranges.setdefault(w.field, []).append(w)
        for field, on_field in ranges.items():
            entries, lo, hi = self._index(collection, _RangeIndex, field).span(on_field)
            slices.append((hi - lo, partial(_ids_between, entries, lo, hi), on_field))
        plans += slices
        if not plans:
            return docs, []
        _, smallest, exact_first = min(plans, key=_value_of)
        settled = list(exact_first)
        ids = smallest()
        for narrow, exact in sets:
            if narrow is not smallest and ids:
                ids = narrow().intersection(ids)
                settled += exact
        # A range's slice is worth intersecting too unless it is much larger than what is
        # left (gathering an id from the slice costs far less than checking a filter);
        # then a string range is checked on each candidate's value directly.
        for size, between, on_field in slices:
            if between is smallest or not ids:
                continue
            if size <= _SLICE_NARROWS * len(ids):
                ids = set(between()).intersection(ids)
                settled += on_field
            elif all(type(w.value) is str for w in on_field):
                ids = _texts_within(ids, docs, on_field)
                settled += on_field
        return ids, settled

    def get(self, collection: str, doc_id: str) -> Document | None:
        check_id(collection, doc_id)
        return self._snapshot((collection, doc_id))[0]

    def query(self, collection: str, *where: Where, limit: int | None = None) -> list[tuple[str, Document]]:
        check_id(collection, "query")
        check_query(where, limit)
        return self._query_snapshot(collection, where, limit)[0]

    def collections(self) -> list[str]:
        with self._lock:
            return sorted(c for c, docs in self._docs.items() if docs)

    def dump(self, *, copy: bool = True) -> dict[str, dict[str, Document]]:
        """Every collection and document, sorted (the same answer as a query of each
        collection, without the query machinery: a replay ends with this).

        ``copy=False`` hands over the store's own documents instead of copies: only for a
        store nobody reads or writes again (a replay's own, once it is done)."""
        with self._lock:
            collections = sorted((c, docs) for c, docs in self._docs.items() if docs)
            if not copy:
                return {collection: dict(sorted(docs.items())) for collection, docs in collections}
            return {
                collection: {doc_id: _copy(docs[doc_id], keys[doc_id]) for doc_id in sorted(docs)}
                for collection, docs, keys in ((c, d, self._nested[c]) for c, d in collections)
            }

    # -- transactions ------------------------------------------------------------------

    def _commit(self, tx: _EmbeddedTransaction) -> None:
        with self._lock:
            revisions = self._revisions
            for key, revision in tx._read.items():
                if revisions.get(key, 0) != revision:
                    raise _Conflict
            found = tx._found
            if found:
                for key in tx._writes:
                    if key in found and key not in tx._read and revisions.get(key, 0) != found[key]:
                        raise _Conflict
            for collection, doc_id in tx._creates:
                if doc_id in self._docs.get(collection, {}):
                    raise AlreadyExistsError(f"{collection}/{doc_id} already exists")
            for (collection, doc_id), fields in tx._appends.items():
                # Merged into the document as committed now: appends never conflict.
                current = self._docs.get(collection, {}).get(doc_id)
                merged = dict(current or {})
                for field, values in fields.items():
                    was = merged.get(field)
                    kept = list(was) if isinstance(was, list) else []
                    merged[field] = kept + [v for v in values if v not in kept]
                tx._writes[(collection, doc_id)] = checked_document(merged)
            if not tx._writes:
                return
            self._clock += 1
            clock = self._clock
            for key, written in tx._writes.items():
                collection, doc_id = key
                doc, nested_keys = written if written is not None else (None, _FLAT)
                docs = self._docs.setdefault(collection, {})
                old = docs.pop(doc_id, None)
                for index in self._indexes.get(collection, _NO_INDEXES).values():
                    if old is not None and doc is not None and _same_entry(index.field, old, doc):
                        continue  # the indexed value did not change: neither does the index
                    if old is not None:
                        index.remove(doc_id, old)
                    if doc is not None:
                        index.add(doc_id, doc)
                    self._field_revisions[(collection, index.field)] = clock
                nested = self._nested.setdefault(collection, {})
                if doc is not None:
                    docs[doc_id] = doc
                    nested[doc_id] = nested_keys
                else:
                    nested.pop(doc_id, None)
                revisions[key] = clock
                self._collection_revisions[collection] = clock
            self.writes += len(tx._writes)
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
