"""Cached getters for what functions need at run time, built on first use (never at import)."""

from __future__ import annotations

import os
import threading

from shared.store import Store, open_store

_lock = threading.Lock()
_store: Store | None = None


def store() -> Store:
    """The configured state store (``TAOPS_STORE``), opened once per instance."""
    global _store
    if _store is None:
        with _lock:
            if _store is None:
                _store = open_store(os.environ.get("TAOPS_STORE"))
    return _store


def reset() -> None:
    """Forget cached clients (tests that switch configuration)."""
    global _store
    with _lock:
        if _store is not None:
            _store.close()
        _store = None
