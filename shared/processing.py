"""Exactly-once effects from at-least-once delivery: the one ``process`` path.

Every handler runs inside ``process``, which in a single store transaction

1. skips an event whose processed-event marker exists (a duplicate changes nothing); the
   marker keeps a hash of the payload, so the same id with a different payload is told
   apart (a conflict, after Powertools' ``IdempotencyValidationError``) and never applied;
2. ignores an update older than the stored version of the same entity (stale: the
   marker records it, nothing else changes);
3. otherwise asks the handler for a decision and commits, together, its state changes,
   the timers it schedules or cancels, the actions not already in the outbox (the action
   id derives from its idempotency key), the entity's new version and the marker.

``shared.dispatch`` runs every event through it; ``shared.faults`` decides what a failure
means (acknowledge and keep in ``dead_letters``, or raise so the platform retries).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar, overload

from shared import outbox_index
from shared.dashboard import views
from shared.events import EventEnvelope, check_version
from shared.exceptions import PermanentError
from shared.models import Action, Timer, utc_text
from shared.store import AlreadyExistsError, Store, Transaction, Where
from shared.store.base import Document

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")

PROCESSED = "processed_events"
VERSIONS = "entity_versions"
OUTBOX = "outbox"
DEAD_LETTERS = "dead_letters"
TIMERS = "timers"
# A kept body is at most this many bytes of text: far under Firestore's 1 MiB per document.
RAW_KEEP_BYTES = 256 * 1024


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    STALE = "stale"
    REJECTED = "rejected"
    # The event's id was applied before with a different payload: nothing applied.
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Put:
    collection: str
    doc_id: str
    doc: Document


@dataclass(frozen=True)
class Delete:
    collection: str
    doc_id: str


@dataclass
class Decision:
    """What a rule decided: state changes, actions, timers, and notes a person can read.

    ``timers`` are scheduled (a timer with the same key is replaced) and ``cancel_timers``
    (timer ids) removed, in the same commit as everything else. ``outbox_read``: the
    outbox documents the rule read already (a coverage plan reads its absence's), so
    ``process`` need not read them again to know what is new.
    """

    changes: list[Put | Delete] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    cancel_timers: list[str] = field(default_factory=list)
    outbox_read: dict[str, Document] = field(default_factory=dict)


class _Query(Protocol):
    def __call__(
        self, collection: str, *where: Where, limit: int | None = None
    ) -> list[tuple[str, Document]]: ...


_UNREAD: Any = object()


class ReadView:
    """The read half of a transaction: handlers look, ``process`` writes. Its ``get`` and
    ``query`` are the transaction's own (no call of its own on every read): ``get`` reads
    a document as the transaction, ``query`` searches committed state without locking
    (the store port's contract), so a handler searching the outbox never waits on
    ``deliver_action``; a found document the decision rewrites is written only if
    unchanged, else the whole ``process`` runs again."""

    get: Callable[[str, str], Document | None]
    get_many: Callable[[str, Iterable[str]], dict[str, Document | None]]
    lookup: Callable[[str, Iterable[str]], dict[str, Document | None]]
    query: _Query

    def __init__(
        self, tx: Transaction, known: Mapping[tuple[str, str], Document | None] | None = None
    ) -> None:
        self.get = tx.get
        self.get_many = tx.get_many  # several by id in one round trip
        self.lookup = tx.lookup  # several by id as a query reads them, locking nothing
        self.query = tx.query
        self._concurrent = tx.round_trips
        if known:
            # Documents the transaction read already, by (collection, id): each handed
            # out on its first ``get`` (a later one reads it again, as a fresh copy).
            self._known = dict(known)
            self._tx_get = tx.get
            self.get = self._get_known

    def _get_known(self, collection: str, doc_id: str) -> Document | None:
        key = (collection, doc_id)
        found = self._known.pop(key, _UNREAD)  # one pop: reads may run in several threads
        return self._tx_get(collection, doc_id) if found is _UNREAD else found

    @overload
    def together(self, a: Callable[[], A], b: Callable[[], B], /) -> tuple[A, B]: ...

    @overload
    def together(self, a: Callable[[], A], b: Callable[[], B], c: Callable[[], C], /) -> tuple[A, B, C]: ...

    @overload
    def together(
        self, a: Callable[[], A], b: Callable[[], B], c: Callable[[], C], d: Callable[[], D], /
    ) -> tuple[A, B, C, D]: ...

    @overload
    def together(self, *reads: Callable[[], A]) -> tuple[A, ...]: ...

    def together(self, *reads: Callable[[], Any]) -> tuple[Any, ...]:
        """Each of ``reads`` (reads that do not depend on each other), and their answers in
        order: at the same time where each read is a round trip to the database (one
        wait instead of one each), one after the other where it is not.

        The first runs in the calling thread, each other in a thread of its own, so a
        read may itself read things together (a re-plan beside the re-plans of the plans
        its TA covers) and nothing waits on a pool that nested reads could fill. The
        first failure is raised once every read has finished."""
        if not self._concurrent or len(reads) < 2:
            return tuple(read() for read in reads)
        answers: list[Any] = [None] * len(reads)
        failures: list[BaseException | None] = [None] * len(reads)

        def run(index: int) -> None:
            try:
                answers[index] = reads[index]()
            except BaseException as exc:  # handed to the caller below
                failures[index] = exc

        # Each thread runs in a copy of the caller's context (its bound log fields).
        threads = [
            threading.Thread(
                target=contextvars.copy_context().run, args=(run, index), name="taops-read", daemon=True
            )
            for index in range(1, len(reads))
        ]
        for thread in threads:
            thread.start()
        run(0)
        for thread in threads:
            thread.join()
        failed = next((exc for exc in failures if exc is not None), None)
        if failed is not None:
            raise failed
        return tuple(answers)


Handler = Callable[[ReadView, EventEnvelope, datetime], Decision]


@dataclass
class ProcessResult:
    outcome: Outcome
    event_id: str
    new_actions: list[Action] = field(default_factory=list)
    decision: Decision | None = None
    reason: str = ""
    # What a tick's job did: the results of the events it dispatched (fired timers).
    children: list[ProcessResult] = field(default_factory=list)
    # Why a rejected event was rejected: "bad_input" or "configuration" (shared.faults).
    fault: str | None = None
    # Each new action's JSON form (model_dump(mode="json")), by id: made once for the
    # outbox, and kept for callers that show the actions (replay's timeline).
    action_docs: dict[str, Document] = field(default_factory=dict)


# Payload fields that may differ between two deliveries of the same event, so the payload
# hash leaves them out: a Gmail message's labels change as people read it; a Vitally event
# is re-read from the REST API, whose score is recomputed hourly (the webhook's own score is
# in the event id); an operators' fault is the same fault whoever met it and however worded.
UNHASHED_FIELDS: dict[str, frozenset[str]] = {
    "mail.group_message": frozenset({"labels"}),
    "health.changed": frozenset({"health_score", "score_source"}),
    "ops.fault": frozenset({"reason", "function"}),
}


# The hash's JSON: sorted keys, no spaces, anything else as its text. One encoder for
# every event (json.dumps with options builds a new one on each call).
_HASH_JSON = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))


def payload_hash(event: EventEnvelope) -> str:
    """What makes a delivery the same event: its type, entity, version and the payload's
    identifying fields."""
    volatile = UNHASHED_FIELDS.get(event.type)
    payload = event.payload if not volatile else {k: v for k, v in event.payload.items() if k not in volatile}
    material = _HASH_JSON.encode([event.type, event.entity_key, event.source_version, payload])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def marker_document(
    event: EventEnvelope,
    outcome: str,
    now: datetime,
    retention_days: int,
    *,
    fingerprint: str | None = None,
    **extra: Any,
) -> Document:
    """The processed-event marker: what happened to the event, when, and the hash of its
    payload (``fingerprint`` when the caller has it already: the hash encodes the whole
    payload, and every event needs it twice); it expires (Firestore TTL) after
    ``retention_days``."""
    return {
        "event_id": event.event_id,
        "source": event.source,
        "type": event.type,
        "entity_key": event.entity_key,
        "outcome": outcome,
        "processed_at": utc_text(now),
        "expire_at": utc_text(now + timedelta(days=retention_days)),
        "payload_hash": fingerprint if fingerprint is not None else payload_hash(event),
        **extra,
    }


def timer_document(timer: Timer, event: EventEnvelope, now: datetime) -> Document:
    doc = timer.model_dump(mode="json")
    doc.update(scheduled_at=utc_text(now), event_id=event.event_id)
    return doc


def outbox_document(action: Action, event: EventEnvelope, dumped: Document | None = None) -> Document:
    """The outbox's document of ``action`` (``dumped``: its JSON form, when made already)."""
    doc = dict(dumped) if dumped is not None else action.model_dump(mode="json")
    doc.update(status="pending", published_at=None, event_id=event.event_id)
    return doc


def _revivable(stored: Document | None) -> bool:
    """An action may be (re)written: new, or cancelled by taops itself, not by a person."""
    return stored is None or (stored.get("status") == "cancelled" and not stored.get("cancelled_by"))


def process(
    store: Store,
    event: EventEnvelope,
    handler: Handler,
    now: datetime,
    *,
    retention_days: int = 30,
    reads: Iterable[tuple[str, str]] = (),
) -> ProcessResult:
    """Apply ``event`` once. See the module docstring; raises what the handler raises, and
    ``PermanentError`` for a source version from the future. ``reads``: the documents the
    handler will read first (by collection and id, as the event names them), read with
    the event's marker."""
    check_version(event, now)
    fingerprint = payload_hash(event)
    marker_id = event.marker_id  # each built once, not on every use
    version_id = event.version_id if event.source_version else ""

    def marker(outcome: Outcome, **extra: Any) -> Document:
        return marker_document(event, outcome.value, now, retention_days, fingerprint=fingerprint, **extra)

    # First try: an action the rule did not read is created outright, unread (the commit
    # fails with AlreadyExistsError if it exists). Then, only if one did: read each.
    careful = False

    def body(tx: Transaction) -> ProcessResult:
        # The marker, the entity's version and the documents the event names, in one
        # round trip where reads are round trips.
        versioned = [(VERSIONS, version_id)] if event.source_version else []
        known = tx.get_all([(PROCESSED, marker_id), *versioned, *reads])
        seen = known.pop((PROCESSED, marker_id))
        if seen is not None:
            if seen.get("payload_hash") not in (None, fingerprint):
                return ProcessResult(
                    Outcome.CONFLICT,
                    event.event_id,
                    reason="already processed with a different payload "
                    f"(processed at {seen.get('processed_at')})",
                )
            return ProcessResult(Outcome.DUPLICATE, event.event_id, reason="already processed")
        stored = known.pop((VERSIONS, version_id), None) if event.source_version else None
        if (
            stored
            and event.source_version
            and datetime.fromisoformat(stored["source_version"]) > event.source_version
        ):
            reason = f"stale: {utc_text(event.source_version)} is older than {stored['source_version']}"
            tx.set(PROCESSED, marker_id, marker(Outcome.STALE, stale_behind=stored["source_version"]))
            return ProcessResult(Outcome.STALE, event.event_id, reason=reason)

        decision = handler(ReadView(tx, known), event, now)
        unique: dict[str, Action] = {}
        for action in decision.actions:
            unique.setdefault(action.id, action)
        if careful:
            already = tx.get_many(OUTBOX, unique)
        else:
            already = {action_id: decision.outbox_read.get(action_id) for action_id in unique}
        # A meaning taops cancelled earlier (dates moved away and back) is live again; one a
        # person cancelled (``cancelled_by``) stays cancelled, whatever re-derives it.
        new_actions = [a for a_id, a in unique.items() if _revivable(already[a_id])]
        # The dashboard's read models, read now (every read before the first write) and
        # written in this same commit: a view is exactly as current as the state.
        read_models = views.project(
            tx.get,
            ((c.collection, c.doc_id, c.doc if isinstance(c, Put) else None) for c in decision.changes),
            [a.model_dump(mode="json") for a in new_actions if (a.model_extra or {}).get("cadence") == "sla"],
            now,
        )

        dumped = {action.id: action.model_dump(mode="json") for action in new_actions}
        _check_size(decision, list(dumped.values()), read_models)
        for change in decision.changes:
            if isinstance(change, Put):
                tx.set(change.collection, change.doc_id, change.doc)
            else:
                tx.delete(change.collection, change.doc_id)
        scheduled = {t.id for t in decision.timers}
        for timer_id in dict.fromkeys(decision.cancel_timers):
            if timer_id not in scheduled:
                tx.delete(TIMERS, timer_id)
        for timer in decision.timers:
            tx.set(TIMERS, timer.id, timer_document(timer, event, now))
        for action in new_actions:
            if already[action.id] is None:
                tx.create(OUTBOX, action.id, outbox_document(action, event, dumped[action.id]))
            else:
                tx.set(OUTBOX, action.id, outbox_document(action, event, dumped[action.id]))
        # Each new outbox document listed under its absence and its account, in this same
        # commit (a document the rule read is listed already).
        written = [
            (c.doc_id, c.doc)
            for c in decision.changes
            if isinstance(c, Put) and c.collection == OUTBOX and c.doc_id not in decision.outbox_read
        ]
        listed = outbox_index.entries([*dumped.items(), *written])
        for (index_id, kept), values in listed.items():
            tx.append(outbox_index.OUTBOX_INDEX, index_id, kept, values)
        if event.source_version:
            tx.set(
                VERSIONS,
                version_id,
                {
                    "entity_key": event.entity_key,
                    "source_version": utc_text(event.source_version),
                    "event_id": event.event_id,
                },
            )
        for collection, doc_id, doc in read_models:
            if doc is None:
                tx.delete(collection, doc_id)
            else:
                tx.set(collection, doc_id, doc)
        tx.set(PROCESSED, marker_id, marker(Outcome.APPLIED, actions=len(new_actions)))
        return ProcessResult(Outcome.APPLIED, event.event_id, new_actions, decision, action_docs=dumped)

    try:
        return store.run_transaction(body)
    except AlreadyExistsError:
        # An action derived again that the rule had not read: decide once more, reading
        # each action's document, so a duplicate is dropped and a revivable one revived.
        careful = True
        return store.run_transaction(body)


# One commit carries at most this much (the Firestore emulator takes 4 MiB per request,
# Firestore 10 MiB): a decision that would not fit is refused at once, with its size,
# instead of being retried by the client and then by Pub/Sub for an hour. Only a decision
# of many writes is measured (a few hundred documents cannot reach it).
MAX_COMMIT_BYTES = 3_500_000
MEASURED_FROM_WRITES = 200


def _check_size(decision: Decision, new_actions: list[Document], read_models: list[Any]) -> None:
    writes = len(decision.changes) + len(new_actions) + len(decision.timers) + len(read_models)
    if writes < MEASURED_FROM_WRITES:
        return
    docs = [c.doc for c in decision.changes if isinstance(c, Put)]
    docs += new_actions + [doc for _, _, doc in read_models if doc]
    size = sum(len(json.dumps(doc, default=str)) for doc in docs)
    if size > MAX_COMMIT_BYTES:
        raise PermanentError(
            f"the decision is too large to commit at once: {writes} writes, about "
            f"{size // 1024:,} KiB (at most {MAX_COMMIT_BYTES // 1024:,} KiB); "
            f"{len(new_actions)} new actions, {len(decision.changes)} state changes"
        )


def excerpt(data: bytes, limit: int = RAW_KEEP_BYTES) -> tuple[str, bool]:
    """At most ``limit`` bytes of ``data`` as valid UTF-8 text, and whether anything was
    cut: undecodable bytes become U+FFFD, and the text is cut on a character boundary so
    its encoding stays within ``limit`` (a replacement character takes three bytes where
    the bad byte took one)."""
    text = data[:limit].decode("utf-8", errors="replace")
    encoded = text.encode("utf-8")
    if len(encoded) > limit:
        return encoded[:limit].decode("utf-8", errors="ignore"), True
    return text, len(data) > limit


def dead_letter_record(
    *,
    source: str,
    function: str,
    reason: str,
    raw: bytes | str,
    now: datetime,
    event_id: str | None = None,
    attributes: dict[str, str] | None = None,
    trusted: bool = True,
    header_names: list[str] | None = None,
) -> tuple[str, Document]:
    """The ``dead_letters`` document keeping a refused input, and its id (stable per body).

    ``trusted=False`` is for requests nobody authenticated: only the body's hash and size
    and the request's header names are kept, never the body, so nobody outside can fill
    the store. A trusted body is kept as a bounded, valid UTF-8 excerpt.
    """
    data = raw.encode() if isinstance(raw, str) else raw
    digest = hashlib.sha256(data).hexdigest()
    doc_id = hashlib.sha256(source.encode() + b"\0" + data).hexdigest()[:32]
    doc: Document = {
        "source": source,
        "function": function,
        "event_id": event_id[:500] if event_id else None,
        "reason": reason[:1000],
        "received_at": utc_text(now),
        "raw_sha256": digest,
        "raw_bytes": len(data),
        "attributes": {str(k)[:100]: str(v)[:500] for k, v in list((attributes or {}).items())[:50]},
    }
    if trusted:
        kept, cut = excerpt(data)
        doc.update(raw=kept, raw_truncated=cut)
    else:
        doc.update(raw=None, raw_truncated=True, unauthenticated=True)
    if header_names is not None:
        doc["header_names"] = sorted({h.lower()[:100] for h in header_names})[:100]
    return doc_id, doc


def dead_letter(store: Store, **record: Any) -> str:
    """Keep a refused input for inspection: ``dead_letter_record(**record)`` stored;
    returns its id."""
    doc_id, doc = dead_letter_record(**record)
    store.put(DEAD_LETTERS, doc_id, doc)
    return doc_id
