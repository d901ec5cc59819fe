"""Importing a validated book into a store without undoing what other systems wrote.

Each field has one owner (``shared.models.ACCOUNT_OWNERS``): an existing record takes from
the file only the fields the book owns, unless ``force``; ``prune`` removes what the file
no longer has, unless a running coverage plan or a waiting mail thread still needs it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from shared.book.file import ACCOUNTS, KEY_FIELD, OWNERS, PEOPLE
from shared.exceptions import TaopsError
from shared.models import Account, Book, Owner, utc_text
from shared.policy import Policy
from shared.rules.segmentation import segment_for
from shared.store import Document, Store, Transaction, Where
from shared.store.base import same_value


def with_segments(account: Account, policy: Policy) -> Account:
    """The account with segment and managed filled in from the policy when the book left them out."""
    if account.segment is not None and account.managed is not None:
        return account
    decision = segment_for(account.developers, account.arr, policy.segmentation)
    return account.model_copy(
        update={
            "segment": account.segment or decision.segment,
            "managed": decision.managed if account.managed is None else account.managed,
        }
    )


@dataclass(frozen=True)
class FieldChange:
    """One field of an existing record that the file gives differently from the store."""

    field: str
    old: Any
    new: Any
    owner: Owner
    applied: bool  # False: the stored value is kept because ``owner`` is not the book

    @property
    def forced(self) -> bool:
        return self.applied and self.owner is not Owner.BOOK


@dataclass(frozen=True)
class RecordDiff:
    collection: str
    id: str
    status: Literal["added", "changed", "unchanged", "removed"]
    changes: tuple[FieldChange, ...] = ()


@dataclass
class ImportReport:
    """What an import wrote (or, on a dry run, would write), record by record."""

    records: list[RecordDiff]
    dry_run: bool
    force: bool
    prune: bool
    # Why --prune cannot remove what it would (a dry run reports them; a real run refuses).
    blockers: list[str] = field(default_factory=list)

    def count(self, collection: str, status: str) -> int:
        return sum(r.collection == collection and r.status == status for r in self.records)

    @property
    def kept(self) -> list[tuple[RecordDiff, FieldChange]]:
        return [(r, c) for r in self.records for c in r.changes if not c.applied]

    @property
    def forced(self) -> list[tuple[RecordDiff, FieldChange]]:
        return [(r, c) for r in self.records for c in r.changes if c.forced]

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "force": self.force,
            "prune": self.prune,
            "blockers": self.blockers,
            "summary": {
                collection: {
                    status: self.count(collection, status)
                    for status in ("added", "changed", "unchanged", "removed")
                }
                for collection in (PEOPLE, ACCOUNTS)
            },
            "records": [
                {
                    "collection": r.collection,
                    "id": r.id,
                    "status": r.status,
                    "changes": [
                        {
                            "field": c.field,
                            "old": c.old,
                            "new": c.new,
                            "owner": c.owner.value,
                            "applied": c.applied,
                        }
                        for c in r.changes
                    ],
                }
                for r in self.records
                if r.status != "unchanged" or r.changes
            ],
        }

    def lines(self) -> list[str]:
        """The diff as a person reads it: one line per record added, changed or removed,
        one per field under it (kept fields say who owns them)."""
        out: list[str] = []
        mark = {"added": "+", "changed": "~", "unchanged": "=", "removed": "-"}
        for collection in (PEOPLE, ACCOUNTS):
            counts = ", ".join(
                f"{self.count(collection, s)} {s}" for s in ("added", "changed", "unchanged", "removed")
            )
            out.append(f"{collection}: {counts}")
            for r in self.records:
                if r.collection != collection or (r.status == "unchanged" and not r.changes):
                    continue
                suffix = " (not in the file)" if r.status == "removed" else ""
                out.append(f"  {mark[r.status]} {r.id}{suffix}")
                out += [f"      {_describe(c, self.dry_run)}" for c in r.changes]
        return out


_OWNER_NAME = {
    Owner.BOOK: "the book",
    Owner.SALESFORCE: "Salesforce",
    Owner.VITALLY: "Vitally",
    Owner.TAOPS: "taops",
}


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _describe(change: FieldChange, dry_run: bool) -> str:
    moved = f"{change.field}: {_shown(change.old)} → {_shown(change.new)}"
    if not change.applied:
        return (
            f"{change.field}: kept {_shown(change.old)}, {_OWNER_NAME[change.owner]} owns it "
            f"(the file says {_shown(change.new)}; --force overwrites)"
        )
    if change.forced:
        verb = "would overwrite" if dry_run else "overwrote"
        return f"{moved} ({verb} a field {_OWNER_NAME[change.owner]} owns: --force)"
    return moved


@dataclass(frozen=True)
class _Incoming:
    """One record of the file, ready to merge: its document and the fields the file gave."""

    collection: str
    id: str
    doc: Document
    given: frozenset[str]


def _merge(
    collection: str, stored: Mapping[str, Any] | None, incoming: _Incoming, force: bool
) -> tuple[Document, tuple[FieldChange, ...]]:
    """The document to store for a record of the file, and how it differs from ``stored``.

    A new record is the file's. An existing one keeps everything the file does not own:
    a field another system owns keeps its stored value (reported, unless the file left the
    field out) unless ``force``; fields the models do not know (a handler's own state) are
    never touched. A field the stored document lacks altogether is taken from the file.
    """
    if stored is None:
        return dict(incoming.doc), ()
    owners = OWNERS[collection]
    merged = dict(stored)
    changes = []
    for name, new in incoming.doc.items():
        if name in stored and same_value(stored[name], new):
            continue
        owner = owners[name]
        if name not in stored or owner is Owner.BOOK:
            merged[name] = new
            changes.append(FieldChange(name, stored.get(name), new, owner, True))
        elif name in incoming.given:
            if force:
                merged[name] = new
            changes.append(FieldChange(name, stored[name], new, owner, force))
    return merged, tuple(changes)


class _Reader(Protocol):
    def query(
        self, collection: str, *where: Where, limit: int | None = None
    ) -> list[tuple[str, Document]]: ...


_IN_LIMIT = 30  # Firestore's limit on the values of one ``in`` filter


def _read(reader: _Reader, collection: str, ids: Sequence[str]) -> dict[str, Document]:
    """The stored documents of these ids: ``in`` queries on the key field, no scan."""
    found: dict[str, Document] = {}
    for start in range(0, len(ids), _IN_LIMIT):
        chunk = list(ids[start : start + _IN_LIMIT])
        found.update(reader.query(collection, Where(KEY_FIELD[collection], "in", chunk)))
    return found


def prune_blockers(
    reader: _Reader, people: Iterable[str], accounts: Iterable[str], now: datetime
) -> list[str]:
    """Why these people and accounts cannot be removed yet, one line each: a person who is
    the TA or a cover of a coverage plan still running, a TA of a mail thread waiting for a
    reply; an account in a running plan or with a thread waiting. Two indexed queries (plans
    not yet ended, threads waiting), whatever the size of the book."""
    from shared.handlers.common import COVERAGE_PLANS, MAIL_THREADS

    people, accounts = set(people), set(accounts)
    if not people and not accounts:
        return []
    problems: list[str] = []
    for plan_id, plan in reader.query(COVERAGE_PLANS, Where("end", ">", utc_text(now))):
        if plan.get("status") == "withdrawn":
            continue
        ta, until = plan.get("ta"), str(plan.get("end", ""))[:10]
        plan_name = f"the coverage plan of {ta}'s absence {plan_id} (until {until})"
        if ta in people:
            problems.append(f"people {ta}: is the TA of {plan_name}")
        items = plan.get("items") or []
        covering: dict[str, list[str]] = {c: [] for c in plan.get("covers") or [] if c in people}
        for item in items:
            if item.get("cover") in people:
                covering.setdefault(item["cover"], []).append(str(item.get("account_id")))
            if item.get("account_id") in accounts:
                problems.append(f"accounts {item['account_id']}: is in {plan_name}")
        for cover, covered in sorted(covering.items()):
            problems.append(f"people {cover}: covers {', '.join(covered) or 'accounts'} in {plan_name}")
    for thread_id, thread in reader.query(MAIL_THREADS, Where("waiting", "==", True)):
        thread_name = f"mail thread {thread_id} ({thread.get('subject') or 'no subject'!r})"
        if thread.get("account_id") in accounts:
            problems.append(f"accounts {thread['account_id']}: {thread_name} is waiting for a team reply")
        if thread.get("ta") in people:
            problems.append(f"people {thread['ta']}: is the TA of {thread_name}, waiting for a team reply")
    return problems


class PruneRefusedError(TaopsError):
    """``--prune`` would remove people or accounts something still depends on."""

    def __init__(self, problems: list[str], removed: int = 0) -> None:
        self.problems = problems
        self.removed = removed
        lines = "\n".join(f"  - {p}" for p in problems)
        done = f"{removed} removed before this was found" if removed else "nothing written"
        super().__init__(
            f"--prune refused, {done}: still needed\n{lines}\n"
            "(wait until these are over, or import without --prune)"
        )


def _incoming(book: Book, policy: Policy) -> list[_Incoming]:
    records = [
        _Incoming(PEOPLE, p.email, p.model_dump(mode="json"), frozenset(p.model_fields_set))
        for p in book.people
    ]
    for account in book.accounts:
        # The segment the policy derives from the file's developers and ARR counts as the file's word.
        full = with_segments(account, policy)
        given = frozenset(account.model_fields_set | {"segment", "managed"})
        records.append(_Incoming(ACCOUNTS, account.id, full.model_dump(mode="json"), given))
    return records


_CHUNK = 200  # records a transaction writes (Firestore allows 500 writes)


def run_import(
    store: Store,
    book: Book,
    policy: Policy,
    *,
    now: datetime | None = None,
    force: bool = False,
    prune: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Bring the store in line with a validated book; returns what changed.

    Reads what is stored for the file's records (all of both collections with ``prune``),
    then, unless ``dry_run``, writes the records that differ in transactions that read each
    again and merge against that fresh copy, so a renewal Salesforce writes meanwhile is
    not undone.
    ``now`` (default: the clock) decides which coverage plans still run, for ``prune``.
    Raises ``PruneRefusedError`` before writing anything when a record to prune is still
    needed (checked again inside the transaction that removes it; a dry run reports them
    in ``blockers`` instead), and ``StoreError`` or a transient error from the store.
    """
    incoming = _incoming(book, policy)
    stored: dict[str, dict[str, Document]] = {}
    gone: dict[str, list[str]] = {}
    for collection in (PEOPLE, ACCOUNTS):
        ids = [r.id for r in incoming if r.collection == collection]
        stored[collection] = dict(store.query(collection)) if prune else _read(store, collection, ids)
        gone[collection] = sorted(set(stored[collection]) - set(ids)) if prune else []
    removed = [RecordDiff(c, i, "removed") for c in (PEOPLE, ACCOUNTS) for i in gone[c]]
    if now is None:
        from shared import clock

        now = clock.now()
    blockers = prune_blockers(store, gone[PEOPLE], gone[ACCOUNTS], now)
    planned = {(r.collection, r.id): _diff(r, stored[r.collection].get(r.id), force)[1] for r in incoming}
    if dry_run:
        records = [*planned.values(), *removed]
        return ImportReport(records, dry_run=True, force=force, prune=prune, blockers=blockers)
    if blockers:
        raise PruneRefusedError(blockers)

    for start in range(0, len(removed), _CHUNK):
        store.run_transaction(_remover(removed[start : start + _CHUNK], now, start))
    # A record whose book-owned fields already match needs no write: only the book writes
    # those, so nothing another system does meanwhile can make it need one.
    for collection in (PEOPLE, ACCOUNTS):
        due = [
            r
            for r in incoming
            if r.collection == collection and planned[(collection, r.id)].status != "unchanged"
        ]
        for start in range(0, len(due), _CHUNK):
            for diff in store.run_transaction(
                _writer(collection, due[start : start + _CHUNK], force, policy, now)
            ):
                planned[(collection, diff.id)] = diff
    return ImportReport([*planned.values(), *removed], dry_run=False, force=force, prune=prune)


def _diff(record: _Incoming, stored: Document | None, force: bool) -> tuple[Document, RecordDiff]:
    merged, changes = _merge(record.collection, stored, record, force)
    if stored is None:
        status: Literal["added", "changed", "unchanged"] = "added"
    else:
        status = "changed" if any(c.applied for c in changes) else "unchanged"
    return merged, RecordDiff(record.collection, record.id, status, changes)


def _renewal_timer(tx: Transaction, account: Document, policy: Policy) -> None:
    """The renewal-process timer of an account written by the import, from its merged
    renewal date (Salesforce's when it owns it). Its start day may be past: the next
    ``renewal-process`` tick then starts it, once, unless the renewal itself is over.
    Renewal events keep it current afterwards."""
    from shared.processing import TIMERS
    from shared.rules.renewal import process_timer

    timer = process_timer(account, policy.renewal)
    if timer is not None:
        tx.set(TIMERS, timer.id, {**timer.model_dump(mode="json"), "event_id": "import"})


def _seat_watch(account: Document, policy: Policy) -> Document:
    """The account's ``seat_check_at`` from its merged seats: an account over a seat
    threshold is looked at by the next ``seat-check`` tick, which knows the date."""
    from shared.rules.seats import watched

    return watched(account, policy, None)


def _views(
    tx: Transaction, writes: list[tuple[str, str, Document | None]], now: datetime
) -> list[tuple[str, str, Document | None]]:
    """The dashboard's read models after ``writes`` (read before any write of the transaction)."""
    from shared.dashboard import views

    return views.project(tx.get, writes, [], now)


def _write_views(tx: Transaction, read_models: list[tuple[str, str, Document | None]]) -> None:
    for collection, doc_id, doc in read_models:
        if doc is None:
            tx.delete(collection, doc_id)
        else:
            tx.set(collection, doc_id, doc)


def _writer(
    collection: str, records: list[_Incoming], force: bool, policy: Policy, now: datetime
) -> Callable[[Transaction], list[RecordDiff]]:
    def write(tx: Transaction) -> list[RecordDiff]:
        fresh = _read(tx, collection, [r.id for r in records])
        diffs = []
        writes: list[tuple[str, Document]] = []
        for record in records:
            merged, diff = _diff(record, fresh.get(record.id), force)
            if diff.status != "unchanged":
                writes.append((record.id, _seat_watch(merged, policy) if collection == ACCOUNTS else merged))
            diffs.append(diff)
        read_models = _views(tx, [(collection, i, d) for i, d in writes], now)  # reads before the writes
        for doc_id, merged in writes:
            tx.set(collection, doc_id, merged)
            if collection == ACCOUNTS:
                _renewal_timer(tx, merged, policy)
        _write_views(tx, read_models)
        return diffs

    return write


def _remover(records: list[RecordDiff], now: datetime, done: int) -> Callable[[Transaction], None]:
    def remove(tx: Transaction) -> None:
        people = [r.id for r in records if r.collection == PEOPLE]
        accounts = [r.id for r in records if r.collection == ACCOUNTS]
        blockers = prune_blockers(tx, people, accounts, now)
        if blockers:  # something came to depend on them since the plan was read
            raise PruneRefusedError(blockers, removed=done)
        read_models = _views(tx, [(r.collection, r.id, None) for r in records], now)
        for r in records:
            tx.delete(r.collection, r.id)
        _write_views(tx, read_models)

    return remove


def import_book(store: Store, book: Book, policy: Policy, now: datetime | None = None) -> tuple[int, int]:
    """Write a validated book into the store, keeping what other sources own; returns
    (people, accounts) in the file. ``now``: as for ``run_import``."""
    run_import(store, book, policy, now=now)
    return len(book.people), len(book.accounts)
