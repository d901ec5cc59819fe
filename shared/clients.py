"""Cached getters for what functions need at run time, built on first use (never at import)."""

from __future__ import annotations

import os
import threading
from collections.abc import Collection
from typing import TYPE_CHECKING

from shared.store import Store, open_store

if TYPE_CHECKING:
    import httpx

# Google credentials: service-account keys with domain-wide delegation, one per use, so
# a function holds only the key for what it does. Reading the pooled mailbox (on_group_mail,
# and the gmail-watch tick renewing users.watch) needs gmail.metadata alone, from a key
# whose delegation grants nothing else; sending mail, setting autoresponders and reading or
# writing calendars is deliver_action's, with its own key, mounted there only (infra/).
GMAIL_METADATA_KEY = "TAOPS_GMAIL_METADATA_KEY_FILE"
GOOGLE_DELIVERY_KEY = "TAOPS_GMAIL_SA_KEY_FILE"
METADATA_SCOPES = frozenset({"https://www.googleapis.com/auth/gmail.metadata"})

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


def google_key_variable(scopes: Collection[str]) -> str:
    """The variable naming the key file for ``scopes``: the metadata key when gmail.metadata
    is all they ask (a delegation never grants more than its key's), else delivery's."""
    return GMAIL_METADATA_KEY if set(scopes) <= METADATA_SCOPES else GOOGLE_DELIVERY_KEY
