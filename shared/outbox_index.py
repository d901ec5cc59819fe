"""Which outbox actions belong to an absence or to an account's customers, kept by id.

A re-plan needs every action of its absence; a customer email needs the account's
earlier ones (the gap between two). Searching the outbox for them made each handler's
cost grow with the whole outbox wherever a query scans (the Firestore emulator builds an
index over the collection for every query: 110 ms per search at 8,000 actions), and it
searched documents ``deliver_action`` is writing. So ``process`` keeps, in the same
commit as the actions, one index document per owner (``outbox_index/absence:{id}``,
``outbox_index/account:{id}``) listing their ids; a handler reads that document, then
the actions by id, both as a query reads (committed state, locking nothing: see the
store port). An append is a blind array union: two handlers adding to one owner never
conflict.

The index only grows: an action cancelled stays listed (a re-plan reads it to revive or
keep it). ``taops views rebuild`` recomputes it from the outbox, for a store written
before it existed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

from shared.store import Document

OUTBOX_INDEX = "outbox_index"
IDS = "ids"
# The outbox fields an action is found by, and the prefix of their index documents.
OWNERS = {"absence_id": "absence", "customer_account": "account"}


# ``ReadView.lookup``: documents by id, as a query reads them.
Lookup = Callable[[str, Iterable[str]], dict[str, Document | None]]


def index_id(field: str, value: str) -> str:
    """The index document of the actions whose ``field`` is ``value`` (an id with no ``/``)."""
    return f"{OWNERS[field]}:{quote(str(value), safe='@:+-_.')}"


def entries(docs: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str, list[str]]:
    """The ids to add to each index document for these outbox documents."""
    out: dict[str, list[str]] = {}
    for action_id, doc in docs:
        for field in OWNERS:
            value = doc.get(field)
            if isinstance(value, str) and value:
                out.setdefault(index_id(field, value), []).append(action_id)
    return out


def outbox_of(lookup: Lookup, field: str, value: str) -> list[tuple[str, Document]]:
    """The outbox documents whose ``field`` is ``value``, in id order (as a query gives
    them): the index document, then each action by id. ``lookup`` is the transaction's
    (``ReadView.lookup``)."""
    from shared.processing import OUTBOX

    index = lookup(OUTBOX_INDEX, [index_id(field, value)])
    ids = (next(iter(index.values())) or {}).get(IDS) or []
    found = lookup(OUTBOX, sorted(set(ids))) if ids else {}
    # An id whose action is gone (a retention purge) is skipped; one listed under another
    # owner's value cannot be, but is checked: the index is a shortcut, not the truth.
    return [(i, doc) for i, doc in sorted(found.items()) if doc is not None and doc.get(field) == value]


def rebuild(scan: Callable[[str], Iterable[tuple[str, Document]]]) -> list[tuple[str, str, Document]]:
    """Every index document recomputed from the whole outbox."""
    from shared.processing import OUTBOX

    built = entries(scan(OUTBOX))
    return [(OUTBOX_INDEX, doc_id, {IDS: sorted(ids)}) for doc_id, ids in sorted(built.items())]
