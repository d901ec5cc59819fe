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

An account's list (``sends``) carries when each email was due to go, ``{time}|{id}``:
keeping a gap needs only the emails from a little before now on, and an account's
customer emails pile up for as long as it is a customer (a TA's time off read all 370
of a two-year-old account's to place one notice).

The index only grows: an action cancelled stays listed (a re-plan reads it to revive or
keep it). ``taops views rebuild`` recomputes it from the outbox, for a store written
before it existed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from shared.models import utc_text
from shared.store import Document

OUTBOX_INDEX = "outbox_index"
IDS = "ids"
SENDS = "sends"  # an account's list: "{when it is due to go}|{id}"
# The outbox fields an action is found by, the prefix of their index documents, and the
# list field each keeps.
OWNERS = {"absence_id": "absence", "customer_account": "account"}
LISTS = {"absence_id": IDS, "customer_account": SENDS}


# ``ReadView.lookup``: documents by id, as a query reads them.
Lookup = Callable[[str, Iterable[str]], dict[str, Document | None]]


def index_id(field: str, value: str) -> str:
    """The index document of the actions whose ``field`` is ``value`` (an id with no ``/``)."""
    return f"{OWNERS[field]}:{quote(str(value), safe='@:+-_.')}"


def due(doc: Mapping[str, Any]) -> str | None:
    """When an action was decided to go (its hold, else its decision), as stored text."""
    text = doc.get("not_before") or doc.get("at")
    try:
        return utc_text(datetime.fromisoformat(str(text))) if text else None
    except ValueError:
        return None


def entries(docs: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[tuple[str, str], list[str]]:
    """What to add to each index document's list for these outbox documents, by
    (document, list field)."""
    out: dict[tuple[str, str], list[str]] = {}
    for action_id, doc in docs:
        for field, kept in LISTS.items():
            value = doc.get(field)
            if isinstance(value, str) and value:
                # An action without a time (none is made so) is listed to be read always.
                when = due(doc) if kept == SENDS else None
                entry, into = (f"{when}|{action_id}", SENDS) if when else (action_id, IDS)
                out.setdefault((index_id(field, value), into), []).append(entry)
    return out


def outbox_of(
    lookup: Lookup,
    field: str,
    value: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[str, Document]]:
    """The outbox documents whose ``field`` is ``value``, in id order (as a query gives
    them): the index document, then each action by id. ``lookup`` is the transaction's
    (``ReadView.lookup``). ``since`` and ``until`` (an account's only): only the emails
    due to go from ``since`` and before ``until`` (an id listed without its time, by an
    older version, is always read)."""
    from shared.processing import OUTBOX

    index = lookup(OUTBOX_INDEX, [index_id(field, value)])
    listed = next(iter(index.values())) or {}
    ids = list(listed.get(IDS) or [])
    after = utc_text(since) if since is not None else ""
    before = utc_text(until) if until is not None else None
    for entry in listed.get(SENDS) or ():
        due, _, action_id = entry.partition("|")
        if due >= after and (before is None or due < before):
            ids.append(action_id)
    found = lookup(OUTBOX, sorted(set(ids))) if ids else {}
    # An id whose action is gone (a retention purge) is skipped; one listed under another
    # owner's value cannot be, but is checked: the index is a shortcut, not the truth.
    return [(i, doc) for i, doc in sorted(found.items()) if doc is not None and doc.get(field) == value]


def rebuild(scan: Callable[[str], Iterable[tuple[str, Document]]]) -> list[tuple[str, str, Document]]:
    """Every index document recomputed from the whole outbox."""
    from shared.processing import OUTBOX

    built: dict[str, Document] = {}
    for (doc_id, kept), listed in sorted(entries(scan(OUTBOX)).items()):
        built.setdefault(doc_id, {})[kept] = sorted(listed)
    return [(OUTBOX_INDEX, doc_id, doc) for doc_id, doc in built.items()]
