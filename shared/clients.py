"""Cached getters for what functions need at run time, built on first use (never at import)."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from shared.store import Store, open_store

if TYPE_CHECKING:
    import httpx

_lock = threading.Lock()
_store: Store | None = None
_http: httpx.Client | None = None


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
    global _store, _http
    with _lock:
        if _store is not None:
            _store.close()
        if _http is not None:
            _http.close()
        _store = _http = None


def http() -> httpx.Client:
    """One httpx client per instance (connection reuse), with explicit timeouts."""
    global _http
    if _http is None:
        with _lock:
            if _http is None:
                import httpx

                _http = httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
    return _http
