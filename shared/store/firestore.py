"""The Firestore adapter of the store port (native mode, real transactions).

Honours ``FIRESTORE_EMULATOR_HOST`` through the client library. The client is built on
first use, never at import. Failures: ``ContentionError`` when a transaction keeps losing
to concurrent writers, ``TransientError`` for unavailable / deadline faults (retry later),
``AlreadyExistsError`` when ``create`` meets an existing document.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shared.exceptions import ContentionError, StoreError, TransientError
from shared.models import utc_text
from shared.store.base import (
    AlreadyExistsError,
    Document,
    Store,
    Transaction,
    Where,
    check_document,
    check_id,
    check_query,
)

if TYPE_CHECKING:
    from google.cloud import firestore

T = TypeVar("T")

# Firestore's TTL policy only deletes documents whose TTL field holds a Timestamp, so this
# one top-level field is stored as a Timestamp and read back as the ISO string it was.
TTL_FIELD = "expire_at"


def _to_firestore(doc: Mapping[str, Any]) -> Document:
    out = check_document(doc)
    if isinstance(out.get(TTL_FIELD), str):
        out[TTL_FIELD] = datetime.fromisoformat(out[TTL_FIELD])
    return out


def _from_firestore(doc: Document | None) -> Document | None:
    if doc is not None and isinstance(doc.get(TTL_FIELD), datetime):
        doc[TTL_FIELD] = utc_text(doc[TTL_FIELD])
    return doc


class _FirestoreTransaction(Transaction):
    round_trips = True

    def __init__(self, store: FirestoreStore, tx: firestore.Transaction) -> None:
        self._store = store
        self._tx = tx
        self.writes = 0
        # The update time of each document a query found (its version, for ``set``).
        self._found: dict[tuple[str, str], Any] = {}
        # Whether a write carries a precondition: its failure means "changed", not a fault.
        self.preconditioned = False

    def _before_read(self) -> None:
        if self.writes:
            raise StoreError("read after write in a transaction: do every read first")

    def get(self, collection: str, doc_id: str) -> Document | None:
        check_id(collection, doc_id)
        self._before_read()
        snap = self._store._ref(collection, doc_id).get(transaction=self._tx)
        self._store.reads += 1
        # Read by id, the document is locked: its own check, not the query's version.
        self._found.pop((collection, doc_id), None)
        return _from_firestore(snap.to_dict()) if snap.exists else None

    def _batch(
        self, keys: Iterable[tuple[str, str]], *, locked: bool
    ) -> dict[tuple[str, str], Document | None]:
        """Documents by (collection, id) in one batch get: in the transaction (``locked``,
        as ``get`` reads), or as committed, recording each found document's version (as a
        query)."""
        wanted = list(dict.fromkeys(keys))
        for collection, doc_id in wanted:
            check_id(collection, doc_id)
        self._before_read()
        found: dict[tuple[str, str], Document | None] = dict.fromkeys(wanted)
        if not wanted:
            return found
        refs = [self._store._ref(collection, doc_id) for collection, doc_id in wanted]
        for snap in self._tx.get_all(refs) if locked else self._store.client.get_all(refs):
            if snap.exists:
                key = (snap.reference.parent.id, snap.id)
                found[key] = _from_firestore(snap.to_dict())
                if not locked:
                    self._found.setdefault(key, snap.update_time)
        self._store.reads += len(wanted)
        if locked:  # read by id, each is locked: its own check, not a query's version
            for key in wanted:
                self._found.pop(key, None)
        return found

    def get_many(self, collection: str, doc_ids: Iterable[str]) -> dict[str, Document | None]:
        """Each document read by id in the transaction, as ``get`` reads it, in one round
        trip (Firestore's batch get), not one each."""
        found = self._batch(((collection, doc_id) for doc_id in doc_ids), locked=True)
        return {doc_id: doc for (_, doc_id), doc in found.items()}

    def get_all(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Document | None]:
        """``get_many`` across collections: one batch get."""
        return self._batch(keys, locked=True)

    def lookup(self, collection: str, doc_ids: Iterable[str]) -> dict[str, Document | None]:
        """Documents by id as a query reads them: committed (a batch get outside the
        transaction), locking nothing; a found document this transaction then writes is
        written only if it is still the version found."""
        found = self._batch(((collection, doc_id) for doc_id in doc_ids), locked=False)
        return {doc_id: doc for (_, doc_id), doc in found.items()}

    def append(self, collection: str, doc_id: str, field: str, values: Iterable[str]) -> None:
        from google.cloud import firestore

        check_id(collection, doc_id)
        added = list(dict.fromkeys(values))
        if not added:
            return
        self.writes += 1
        # An array union merged into the document: applied by the server at the commit,
        # unread, so concurrent appends neither wait on nor overwrite each other.
        self._tx.set(self._store._ref(collection, doc_id), {field: firestore.ArrayUnion(added)}, merge=True)

    def query(self, collection: str, *where: Where, limit: int | None = None) -> list[tuple[str, Document]]:
        """The matching documents as committed, locking nothing. A query run in the
        transaction would lock what it scanned (on the emulator, the whole collection)
        until the commit, so every writer of any document there, ``deliver_action`` or
        another handler, would wait on it. What the lock protected is kept where it
        matters: a document found here that this transaction then writes is written on
        condition that it is still the version found (``set``/``delete``), else the
        commit fails and the function runs again."""
        self._before_read()
        return self._store._run_query(collection, where, limit, versions=self._found)

    def _precondition(self, collection: str, doc_id: str) -> Any:
        """The write option that the document is still the version a query found, if one did."""
        version = self._found.get((collection, doc_id))
        if version is None:
            return None
        self.preconditioned = True
        return self._store.client.write_option(last_update_time=version)

    def set(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        check_id(collection, doc_id)
        self.writes += 1
        ref = self._store._ref(collection, doc_id)
        option = self._precondition(collection, doc_id)
        if option is None:
            self._tx.set(ref, _to_firestore(doc))
            return
        from google.cloud.firestore_v1 import _helpers

        # ``set`` takes no precondition in the client: the same write, with one.
        writes = _helpers.pbs_for_set_no_merge(ref._document_path, _to_firestore(doc))
        for write in writes:
            option.modify_write(write)
        self._tx._add_write_pbs(writes)

    def create(self, collection: str, doc_id: str, doc: Mapping[str, Any]) -> None:
        check_id(collection, doc_id)
        self.writes += 1
        self._tx.create(self._store._ref(collection, doc_id), _to_firestore(doc))

    def delete(self, collection: str, doc_id: str) -> None:
        check_id(collection, doc_id)
        self.writes += 1
        self._tx.delete(self._store._ref(collection, doc_id), option=self._precondition(collection, doc_id))


class FirestoreStore(Store):
    def __init__(
        self,
        project: str | None = None,
        database: str | None = None,
        *,
        max_rounds: int = 40,
        attempts_per_round: int = 1,
        client: firestore.Client | None = None,
    ) -> None:
        self.project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or "taops-local"
        self.database = database or os.environ.get("TAOPS_FIRESTORE_DATABASE") or "(default)"
        self.max_rounds = max_rounds
        self.attempts_per_round = attempts_per_round
        self.max_attempts = max_rounds * attempts_per_round
        self._client = client
        self._client_lock = threading.Lock()
        # One transaction at a time per instance. Firestore's server-side locks guard
        # against other instances; inside one process, threads that collide on the
        # same documents would only wait on each other's locks (the emulator resolves
        # such deadlocks by a ~2 s timeout, production by aborting), so they queue here.
        self._tx_lock = threading.Lock()
        self.reads = 0
        self.writes = 0
        # Transactions that lost to a concurrent writer and ran again (a bench figure).
        self.retries = 0

    @property
    def client(self) -> firestore.Client:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    from google.cloud import firestore

                    self._client = firestore.Client(project=self.project, database=self.database)
        return self._client

    def _ref(self, collection: str, doc_id: str) -> firestore.DocumentReference:
        return self.client.collection(collection).document(doc_id)

    def _run_query(
        self,
        collection: str,
        where: tuple[Where, ...],
        limit: int | None,
        *,
        versions: dict[tuple[str, str], Any] | None = None,
    ) -> list[tuple[str, Document]]:
        """Committed state; ``versions`` gets each found document's update time."""
        from google.cloud.firestore_v1.base_query import FieldFilter

        check_id(collection, "query")
        check_query(where, limit)
        query: Any = self.client.collection(collection)
        for w in where:
            query = query.where(filter=FieldFilter(w.field, w.op, w.value))
        if limit is not None:
            query = query.order_by("__name__").limit(limit)
        snaps = list(query.stream())
        self.reads += max(1, len(snaps))
        if versions is not None:
            for snap in snaps:
                versions.setdefault((collection, snap.id), snap.update_time)
        # Firestore orders by the inequality field first; the port promises id order.
        return sorted(((s.id, _from_firestore(s.to_dict()) or {}) for s in snaps), key=lambda pair: pair[0])

    def get(self, collection: str, doc_id: str) -> Document | None:
        check_id(collection, doc_id)
        with _translated_errors():
            snap = self._ref(collection, doc_id).get()
        self.reads += 1
        return _from_firestore(snap.to_dict()) if snap.exists else None

    def query(self, collection: str, *where: Where, limit: int | None = None) -> list[tuple[str, Document]]:
        with _translated_errors():
            return self._run_query(collection, where, limit)

    def update(
        self, collection: str, doc_id: str, fn: Callable[[Document], Mapping[str, Any] | None]
    ) -> bool:
        """A read, then one write with the precondition that the document's update time is
        still the one read: no transaction, so no lock is held in between that a
        concurrent transaction on the document (a delivery claiming it) could deadlock on.
        A failed precondition means it changed: read it again."""
        from google.api_core import exceptions as gexc
        from google.cloud.firestore_v1.field_path import FieldPath

        check_id(collection, doc_id)
        ref = self._ref(collection, doc_id)
        for _ in range(self.max_attempts):
            with _translated_errors():
                snap = ref.get()
            self.reads += 1
            if not snap.exists:
                return False
            changes = fn(_from_firestore(snap.to_dict()) or {})
            if changes is None:
                return False
            fields = {FieldPath(key).to_api_repr(): value for key, value in _to_firestore(changes).items()}
            try:
                with _translated_errors():
                    ref.update(fields, option=self.client.write_option(last_update_time=snap.update_time))
            except (gexc.FailedPrecondition, gexc.NotFound):
                continue
            self.writes += 1
            return True
        raise ContentionError(f"{collection}/{doc_id} kept changing under update {self.max_attempts} times")

    def collections(self) -> list[str]:
        with _translated_errors():
            return sorted(c.id for c in self.client.collections())

    def run_transaction(self, fn: Callable[[Transaction], T]) -> T:
        from google.cloud import firestore

        holder: dict[str, _FirestoreTransaction] = {}

        @firestore.transactional
        def body(tx: firestore.Transaction) -> T:
            wrapped = _FirestoreTransaction(self, tx)
            holder["tx"] = wrapped
            return fn(wrapped)

        # The client retries an aborted commit at once, with no pause; under real
        # contention (and on the emulator) that burns its attempts in a burst. So it
        # gets a few attempts per round, and rounds are spaced by jittered backoff.
        from google.api_core import exceptions as gexc

        for round_ in range(self.max_rounds):
            try:
                with self._tx_lock, _translated_errors():
                    try:
                        result = body(self.client.transaction(max_attempts=self.attempts_per_round))
                    except ValueError as exc:
                        # The client library reports exhausted retries as a ValueError.
                        if "attempts" not in str(exc).lower():
                            raise
                        raise ContentionError(str(exc)) from exc
                    except gexc.FailedPrecondition as exc:
                        # A document a query found changed before the commit (a missing
                        # index is a failed precondition too, and stays a fault).
                        tx = holder.get("tx")
                        if tx is None or not tx.preconditioned or "index" in str(exc).lower():
                            raise
                        raise ContentionError(f"a document found by a query changed: {exc}") from exc
                break
            except ContentionError:
                if round_ == self.max_rounds - 1:
                    raise
                self.retries += 1
                time.sleep(random.uniform(0, min(1.0, 0.05 * 2**round_)))
        tx = holder.get("tx")
        if tx is not None:
            self.writes += tx.writes
        return result

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Map Google API exceptions onto taops' permanent / transient split."""
    from google.api_core import exceptions as gexc

    try:
        yield
    # Aborted and AlreadyExists are both 409s: tell them apart before anything else.
    except gexc.Aborted as exc:
        raise ContentionError(str(exc)) from exc
    except gexc.AlreadyExists as exc:
        raise AlreadyExistsError(str(exc)) from exc
    except (
        gexc.ServiceUnavailable,
        gexc.DeadlineExceeded,
        gexc.InternalServerError,
        gexc.TooManyRequests,
        gexc.ResourceExhausted,
    ) as exc:
        raise TransientError(f"Firestore: {exc}") from exc
