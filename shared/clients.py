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
_http: dict[tuple[float, float], httpx.Client] = {}


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
        for client in _http.values():
            client.close()
        _store = None
        _http.clear()


def http(timeout: float = 10.0, connect: float = 5.0) -> httpx.Client:
    """One httpx client per instance and timeouts (connection reuse): each call waits
    ``timeout`` seconds for an answer and ``connect`` to connect. Delivery passes its
    policy's ``delivery.timeout_seconds``, which bounds how long a run can take."""
    key = (timeout, connect)
    client = _http.get(key)
    if client is None:
        with _lock:
            client = _http.get(key)
            if client is None:
                import httpx

                client = _http[key] = httpx.Client(timeout=httpx.Timeout(timeout, connect=connect))
    return client
