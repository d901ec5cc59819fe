"""The state store port.

State is a set of collections of JSON documents (``{collection: {id: document}}``).
Both adapters, Firestore and the embedded store, pass the same contract suite
(``tests/store_contract.py``):

- ``get``/``query`` outside a transaction read committed state;
- ``run_transaction(fn)`` calls ``fn(tx)``; every read in ``tx`` happens before any write
  (Firestore's rule, enforced by both adapters); the writes commit atomically or not at
  all; when a document read in ``tx`` changed before the commit, ``fn`` runs again, up
  to ``max_attempts`` times, then ``ContentionError`` (transient) is raised;
- a query inside a transaction reads committed state and locks nothing: a document it
  found that the transaction then writes is written on condition that it is still the
  version found (else ``fn`` runs again), and no other write, to a document found and not
  written, or a new match, fails the commit. So a transaction waits only on writers of the
  documents it read by id (``get``), never on a collection it searched; a decision that
  must see concurrent additions reads, by id, a document their writers also write;
- ``lookup`` in a transaction reads documents by id as a query reads them: committed
  state, nothing locked, each found document written only if still the version found;
- ``append(collection, id, field, values)`` in a transaction adds ``values`` missing
  from the list ``field`` (the document is created if need be) without reading it: two
  transactions appending to one document never conflict, and neither loses its values;
- ``update(collection, id, fn)`` changes one document outside any transaction: ``fn`` gets
  the committed document and returns the fields to change (or None: nothing); the write
  applies only if the document did not change since it was read (else ``fn`` runs again
  on the new one), and no lock is held between the read and the write;
- ``create`` fails the transaction with ``AlreadyExistsError`` if the document exists;
- queries compare as Firestore does: ``Where.matches`` is the reference (a range filter
  matches values of its own type only; a boolean is never a number);
- document ids are non-empty, at most 1,500 bytes, without ``/``, and not ``.`` or ``..``.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from shared.exceptions import StoreError

T = TypeVar("T")
Document = dict[str, Any]
Op = Literal["==", "<", "<=", ">", ">=", "in", "array_contains"]
_OPS: frozenset[str] = frozenset({"==", "<", "<=", ">", ">=", "in", "array_contains"})
RANGE_OPS: frozenset[str] = frozenset({"<", "<=", ">", ">="})


class AlreadyExistsError(StoreError):
    """``create`` found the document already there."""


def range_kind(value: Any) -> str | None:
    """The type a range filter compares within: Firestore compares only values of one
    type, ints and floats together, booleans apart from numbers. None, lists and maps:
    no range (taops never orders by them)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def same_value(a: Any, b: Any) -> bool:
    """Firestore's equality: Python's, except that a boolean never equals a number."""
    if isinstance(a, bool) is not isinstance(b, bool):
        return False
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    return bool(a == b)


@dataclass(frozen=True)
class Where:
    field: str
    op: Op
    value: Any

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise StoreError(f"unsupported query operator {self.op!r}")
        # Firestore's client refuses None here; lists and maps would compare in Firestore
        # but not in the embedded store, so both refuse them the same way.
        if self.op in RANGE_OPS and (range_kind(self.value) is None or self.value != self.value):
            raise StoreError(f"a {self.op!r} filter needs a number, string or boolean, not {self.value!r}")
        if self.op == "array_contains" and self.value is None:
            raise StoreError("an 'array_contains' filter cannot look for None")

    def matches(self, doc: Mapping[str, Any]) -> bool:
        if self.field not in doc:
            return False
        have = doc[self.field]
        value = self.value
        if self.op == "==":
            # A string or None equals as in Python; the rest needs same_value (the fast
            # path matters: every query candidate comes through here).
            if have is None or have.__class__ is str:
                return bool(have == value)
            return same_value(have, value)
        if self.op == "in":
            return any(same_value(have, v) for v in value)
        if self.op == "array_contains":
            return isinstance(have, list) and any(same_value(m, value) for m in have)
        if have.__class__ is str:
            if not isinstance(value, str):
                return False
        elif range_kind(have) != range_kind(value):
            return False
        if self.op == "<":
            return bool(have < value)
        if self.op == "<=":
            return bool(have <= value)
        if self.op == ">":
            return bool(have > value)
        return bool(have >= value)


def _check_id_part(label: str, value: Any) -> None:
    if not isinstance(value, str) or not value or "/" in value or value in {".", ".."}:
        raise StoreError(f"invalid {label} {value!r}: must be non-empty, without '/'")
    # A character takes at most four bytes: a short id needs no encoding to measure.
    if len(value) > 375 and len(value.encode()) > 1500:
        raise StoreError(f"invalid {label}: longer than 1,500 bytes")


# Collection names already found valid: every read and write checks one, and they are few.
_CHECKED_COLLECTIONS: set[str] = set()


def check_id(collection: str, doc_id: str) -> None:
    if collection not in _CHECKED_COLLECTIONS:
        _check_id_part("collection", collection)
        if type(collection) is str and len(_CHECKED_COLLECTIONS) < 1024:
            _CHECKED_COLLECTIONS.add(collection)
    _check_id_part("document id", doc_id)


def check_query(where: tuple[Where, ...], limit: int | None) -> None:
    """What Firestore refuses, refused alike by every adapter. ``limit`` keeps the first
    ids, which only an equality-filtered query can promise."""
    if limit is not None and any(w.op in RANGE_OPS for w in where):
        raise StoreError("limit is only supported with equality filters (results are ordered by id)")
    if len(where) > 1 and sum(w.op == "array_contains" for w in where) > 1:
        raise StoreError("a query can have at most one 'array_contains' filter")


_MAX_DEPTH = 64


# The types stored as they are: no copy, no check (a float is checked for NaN first).
_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None)})


def _json_value(value: Any, depth: int) -> Any:
    """A plain JSON copy of ``value`` (what ``json.loads(json.dumps(value))`` gives, in one
    pass: every document written goes through here); ``StoreError`` for anything JSON
    cannot hold. Plain members of an object or a list are taken without a call each: most
    of a document is strings."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        if value != value or value in (math.inf, -math.inf):
            raise StoreError("a document must be JSON-serialisable: NaN and infinity are not JSON")
        return value
    if depth > _MAX_DEPTH:
        raise StoreError("a document must be JSON-serialisable: nested too deeply")
    if kind is dict or isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                key = _json_key(key)
            out[key] = item if type(item) in _PLAIN else _json_value(item, depth + 1)
        return out
    if kind is list or kind is tuple:
        return [item if type(item) in _PLAIN else _json_value(item, depth + 1) for item in value]
    if isinstance(value, str):
        return str.__str__(value)  # a str subclass (StrEnum) is stored as its text
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _json_value(float(value), depth)
    raise StoreError(f"a document must be JSON-serialisable: {kind.__name__} is not JSON")


def _json_key(key: Any) -> str:
    """An object key that is not a plain ``str``, as ``json.dumps`` writes it."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is None or isinstance(key, int | float):
        return json.dumps(key)
    raise StoreError(f"a document must be JSON-serialisable: key {key!r} is not a string")


def check_document(doc: Mapping[str, Any]) -> Document:
    """Documents are JSON objects; anything else is a programming error caught early.
    Returns a plain copy the caller can no longer change."""
    return checked_document(doc)[0]


def checked_document(doc: Mapping[str, Any]) -> tuple[Document, tuple[str, ...]]:
    """``check_document``, and the keys of the copy that hold objects or lists (what a
    store that copies documents on read must copy deeply), found on the same pass."""
    if not isinstance(doc, Mapping):
        raise StoreError("a document must be a mapping")
    copy: Document = {}
    nested: list[str] = []
    for key, item in doc.items():
        if type(key) is not str:
            key = _json_key(key)
        if type(item) in _PLAIN:
            copy[key] = item
        else:
            value = copy[key] = _json_value(item, 1)
            if type(value) is dict or type(value) is list:
                nested.append(key)
    return copy, tuple(nested)


class Transaction(ABC):
    """Reads, then writes, committed atomically by ``Store.run_transaction``."""

    # Whether each read is a round trip to a server, so that reads that do not depend on
    # each other gain by waiting together (``ReadView.together``); reads may then come
    # from several threads at once.
    round_trips: bool = False

    @abstractmethod
    def get(self, collection: str, doc_id: str) -> Document | None: ...

    @abstractmethod
    def query(
        self, collection: str, *where: Where, limit: int | None = None
    ) -> list[tuple[str, Document]]: ...

    @abstractmethod
    def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None: ...

    @abstractmethod
    def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None: ...

    @abstractmethod
    def delete(self, collection: str, doc_id: str) -> None: ...

    @abstractmethod
    def lookup(self, collection: str, doc_ids: Iterable[str]) -> dict[str, Document | None]:
        """Documents by id as a query reads them: committed, locking nothing."""

    @abstractmethod
    def append(self, collection: str, doc_id: str, field: str, values: Iterable[str]) -> None:
        """Add the ``values`` not yet in the list ``field``, unread, in the commit."""

    def get_many(self, collection: str, doc_ids: Iterable[str]) -> dict[str, Document | None]:
        return {doc_id: self.get(collection, doc_id) for doc_id in doc_ids}

    def get_all(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Document | None]:
        """Documents of any collections by (collection, id), each read as ``get`` reads
        it; where reads are round trips, in one."""
        return {key: self.get(*key) for key in dict.fromkeys(keys)}


class Store(ABC):
    """Where taops keeps its state. See the module docstring for the contract."""

    max_attempts: int = 25

    @abstractmethod
    def get(self, collection: str, doc_id: str) -> Document | None: ...

    @abstractmethod
    def query(self, collection: str, *where: Where, limit: int | None = None) -> list[tuple[str, Document]]:
        """Documents matching every condition, ordered by id."""

    @abstractmethod
    def run_transaction(self, fn: Callable[[Transaction], T]) -> T: ...

    @abstractmethod
    def collections(self) -> list[str]: ...

    def dump(self) -> dict[str, dict[str, Document]]:
        """Every collection and document, sorted: the shape of ``--state-out``."""
        return {c: dict(self.query(c)) for c in sorted(self.collections())}

    def update(
        self, collection: str, doc_id: str, fn: Callable[[Document], Mapping[str, Any] | None]
    ) -> bool:
        """Merge ``fn(document)`` into the document if it did not change since it was read
        (see the module docstring); False when the document is missing or ``fn`` returned
        None. The default is a transaction; an adapter whose transactions hold locks
        overrides it with a conditional write."""

        def body(tx: Transaction) -> bool:
            doc = tx.get(collection, doc_id)
            changes = fn(doc) if doc is not None else None
            if doc is None or changes is None:
                return False
            tx.set(collection, doc_id, {**doc, **changes})
            return True

        return self.run_transaction(body)

    def put(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        """Write one document in its own transaction."""
        self.run_transaction(lambda tx: tx.set(collection, doc_id, doc))

    def put_many(self, writes: Iterable[tuple[str, str, Mapping[str, Any]]], chunk: int = 400) -> int:
        """Write documents in transactions of at most ``chunk`` (Firestore allows 500)."""
        batch: list[tuple[str, str, Mapping[str, Any]]] = []
        count = 0

        def flush() -> None:
            items = list(batch)
            self.run_transaction(lambda tx: [tx.set(c, i, d) for c, i, d in items])

        for write in writes:
            batch.append(write)
            count += 1
            if len(batch) >= chunk:
                flush()
                batch.clear()
        if batch:
            flush()
        return count

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the default has none."""
