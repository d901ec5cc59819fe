"""State store port and its two adapters; ``open_store`` picks one from a spec string."""

from __future__ import annotations

import os

from shared.exceptions import StoreError
from shared.store.base import AlreadyExistsError, Document, Store, Transaction, Where
from shared.store.embedded import EmbeddedStore

DEFAULT_STORE = "embedded:.taops/state.json"

__all__ = [
    "DEFAULT_STORE",
    "AlreadyExistsError",
    "Document",
    "EmbeddedStore",
    "Store",
    "Transaction",
    "Where",
    "open_store",
]


def open_store(spec: str | None = None) -> Store:
    """A store from ``spec`` (else ``$TAOPS_STORE``, else the embedded file in ``.taops/``).

    ``embedded`` (in memory), ``embedded:PATH`` (JSON file), ``firestore`` or
    ``firestore:PROJECT`` (honours ``FIRESTORE_EMULATOR_HOST``). Raises ``StoreError``
    for anything else.
    """
    spec = spec or os.environ.get("TAOPS_STORE") or DEFAULT_STORE
    kind, _, arg = spec.partition(":")
    if kind == "embedded":
        return EmbeddedStore(arg or None)
    if kind == "firestore":
        from shared.store.firestore import FirestoreStore

        return FirestoreStore(project=arg or None)
    raise StoreError(f"unknown store {spec!r}: use embedded, embedded:PATH, firestore or firestore:PROJECT")
