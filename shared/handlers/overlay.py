"""A read view that already shows what the decision being built will write.

A handler that changes an account and then asks another rule about the world (a renewal
that moved, so: re-draw the TA's coverage plan) must have that rule see the account as
it will be, not as the transaction read it. ``PendingView`` answers ``get`` and ``query``
from the pending changes first, then from the underlying view; nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from shared.processing import Delete, Put, ReadView
from shared.store import Document, Where


class PendingView(ReadView):
    """Each document is read from ``view`` once: the rules a handler asks in turn (the
    plan, then the plans of whom it covers) look up the same people, and a transaction
    reads the same document the same way each time. ``known`` holds what the handler read
    through ``view`` already, by (collection, id)."""

    def __init__(
        self,
        view: ReadView,
        changes: Sequence[Put | Delete],
        known: Mapping[tuple[str, str], Document | None] | None = None,
    ) -> None:
        self._view = view
        self._concurrent = view._concurrent  # reads together as the view does
        self._docs: dict[tuple[str, str], Document | None] = {}
        for change in changes:
            doc = change.doc if isinstance(change, Put) else None
            self._docs[(change.collection, change.doc_id)] = doc
        self._read: dict[tuple[str, str], Document | None] = dict(known or {})

    def get(self, collection: str, doc_id: str) -> Document | None:
        key = (collection, doc_id)
        if key in self._docs:
            return self._docs[key]
        if key not in self._read:
            self._read[key] = self._view.get(collection, doc_id)
        return self._read[key]

    def get_many(self, collection: str, doc_ids: Iterable[str]) -> dict[str, Document | None]:
        wanted = list(dict.fromkeys(doc_ids))
        known = self._docs.keys() | self._read.keys()
        unread = [doc_id for doc_id in wanted if (collection, doc_id) not in known]
        if unread:
            for doc_id, doc in self._view.get_many(collection, unread).items():
                self._read[(collection, doc_id)] = doc
        return {doc_id: self.get(collection, doc_id) for doc_id in wanted}

    def lookup(self, collection: str, doc_ids: Iterable[str]) -> dict[str, Document | None]:
        wanted = list(dict.fromkeys(doc_ids))
        found = self._view.lookup(collection, [i for i in wanted if (collection, i) not in self._docs])
        return {i: self._docs[(collection, i)] if (collection, i) in self._docs else found[i] for i in wanted}

    def query(self, collection: str, *where: Where, limit: int | None = None) -> list[tuple[str, Document]]:
        pending = {doc_id: doc for (name, doc_id), doc in self._docs.items() if name == collection}
        if not pending:
            return self._view.query(collection, *where, limit=limit)
        # A pending document that stops matching could hide one more match past a limit:
        # ask for every match, then merge; the answer is in document id order.
        found = {doc_id: doc for doc_id, doc in self._view.query(collection, *where) if doc_id not in pending}
        for doc_id, doc in pending.items():
            if doc is not None and all(w.matches(doc) for w in where):
                found[doc_id] = doc
        return sorted(found.items())[:limit]
