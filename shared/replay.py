"""Replaying recorded events through the real handlers, on the embedded store, with a
simulated clock and dry-run delivery.

Input (design §3): one JSON object a line, in time order,
``{"at": ISO-8601, "source": "deel" | "salesforce" | "vitally" | "gmail" | "tick", "payload": ...}``.
Vendor payloads are the bodies the webhooks receive (no signatures: replay trusts its
file), Gmail payloads are message resources in ``format=metadata``, ticks are
``{"job": NAME}``. Every event goes through the same dispatcher as a deployed function
(``shared.dispatch``): a tick line runs the same job code a deployed tick runs. The clock
follows each line's ``at``; after each line every action that is due is delivered in
dry-run mode. With ``scheduler`` the policy's enabled cadences tick between lines as Cloud
Scheduler would, so timers (the SLA ladder) fire on the simulated clock. The same book
and events always give the same bytes.
"""

from __future__ import annotations

import gc
import heapq
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import decisions
from shared.book import Book, import_book
from shared.bootstrap import Context
from shared.cadences import MODULES as CADENCE_MODULES
from shared.delivery import deliver
from shared.dispatch import dispatch
from shared.events import EventEnvelope, check_version
from shared.exceptions import PermanentError, TaopsError
from shared.faults import Fault, classify, reason_of
from shared.jobs import parse_tick, tick_event
from shared.logs import muted
from shared.models import Action, utc_text
from shared.policy import Policy
from shared.processing import OUTBOX, PROCESSED, TIMERS, Outcome, ProcessResult
from shared.rules.cron import fire_times
from shared.sources import deel, gmail, salesforce, vitally
from shared.store import EmbeddedStore, Where

SOURCES = ("deel", "salesforce", "vitally", "gmail", "tick", "person")
# The moment an empty replay's book is imported at (no line gives one).
REPLAY_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReplayError(TaopsError):
    """A line that cannot be replayed; the message names the line and the field."""


@dataclass(frozen=True)
class Line:
    number: int
    at: datetime
    source: str
    payload: Any


@dataclass
class Step:
    """What one line did: for the timeline a person reads."""

    line: Line
    outcome: str
    notes: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReplayResult:
    steps: list[Step]
    actions: list[dict[str, Any]]
    state: dict[str, dict[str, Any]]
    skipped: list[str]


def parse_line(number: int, text: str, previous: datetime | None) -> Line:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"line {number}: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ReplayError(f"line {number}: must be a JSON object")
    for name in ("at", "source", "payload"):
        if name not in data:
            raise ReplayError(f"line {number}: {name}: missing")
    try:
        at = datetime.fromisoformat(str(data["at"]))
    except ValueError:
        raise ReplayError(f"line {number}: at: {data['at']!r} is not an ISO-8601 time") from None
    if at.tzinfo is None:
        raise ReplayError(f"line {number}: at: needs a time zone (e.g. Z)")
    if data["source"] not in SOURCES:
        raise ReplayError(f"line {number}: source: {data['source']!r} is not one of {', '.join(SOURCES)}")
    if previous is not None and at < previous:
        raise ReplayError(
            f"line {number}: at: {data['at']} is earlier than the line before (keep them in time order)"
        )
    return Line(number, at, str(data["source"]), data["payload"])


def read_lines(lines: Iterable[str], keep_going: bool) -> tuple[list[Line], list[str]]:
    """Every line parsed before anything runs; errors stop the replay unless ``keep_going``."""
    parsed: list[Line] = []
    skipped: list[str] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            parsed.append(parse_line(number, text, parsed[-1].at if parsed else None))
        except ReplayError as exc:
            if not keep_going:
                raise
            skipped.append(str(exc))
    return parsed, skipped


def normalize_line(line: Line, policy: Policy) -> list[EventEnvelope]:
    """The events a line stands for, normalised the way its edge would; ``PermanentError``
    for a bad payload (``[]`` for a vendor event taops does not use)."""
    if line.source == "deel":
        return deel.normalize(line.payload, line.at)
    if line.source == "vitally":
        return vitally.normalize(line.payload, line.at, trait_names=policy.vitally.traits.mapped())
    if line.source == "salesforce":
        if isinstance(line.payload, str):
            notes = salesforce.parse_outbound_message(line.payload.encode())
            return salesforce.normalize_outbound_message(notes, line.at)
        return salesforce.normalize_cdc(line.payload, line.at)
    if line.source == "gmail":
        mailbox = policy.group_mail.address
        return [gmail.normalize_message(line.payload, mailbox, line.at, policy.group_mail.company_domains)]
    if line.source == "person":
        return [decisions.from_line(line.payload, line.at)]
    job, at = parse_tick(line.payload if isinstance(line.payload, dict) else json.dumps(line.payload))
    return [tick_event(job, at or line.at, line.at, policy)]


def check_line(line: Line, policy: Policy) -> list[EventEnvelope]:
    """``normalize_line``, with every failure of a line's own data made a ``PermanentError``
    (an edge answers 400 to the same input)."""
    try:
        events = normalize_line(line, policy)
        for event in events:
            check_version(event, line.at)
        return events
    except PermanentError:
        raise
    except Exception as exc:  # a payload that overflows, recurses, or breaks a model
        if classify(exc) is not Fault.BAD_INPUT:
            raise
        raise PermanentError(reason_of(exc)) from None


class _Due:
    """The outbox actions replay has made, by the time they become due, so that each line
    delivers what is due without rescanning the whole outbox (a long history leaves many
    actions waiting for their time). Delivery re-reads each action: one cancelled in the
    meantime is skipped, and one revived later is handed in again by ``process``."""

    def __init__(self) -> None:
        self._heap: list[tuple[str, str]] = []

    def add(self, action: Action) -> None:
        due = utc_text(action.not_before) if action.not_before else ""
        heapq.heappush(self._heap, (due, action.id))

    def next_due(self) -> str | None:
        return self._heap[0][0] if self._heap else None

    def deliver(self, store: EmbeddedStore, policy: Policy, now: datetime) -> list[dict[str, Any]]:
        cutoff = utc_text(now)  # "" (no not_before) sorts first: always due
        if not self._heap or self._heap[0][0] > cutoff:
            return []  # most lines: nothing has fallen due
        due: set[str] = set()
        while self._heap and self._heap[0][0] <= cutoff:
            due.add(heapq.heappop(self._heap)[1])
        delivered = []
        for action_id in sorted(due):
            outcome = deliver(store, action_id, {}, policy.delivery, now, dry=True)
            if outcome.status == "delivered" and outcome.action is not None:
                delivered.append(outcome.action)
        return delivered


class DryMailbox:
    """Replay's Gmail: it reads nothing (the messages are in the replay file) and records
    the watch renewals a deployed tick would make."""

    def __init__(self) -> None:
        self.watches: list[str] = []

    def added_since(self, user: str, start_history_id: int) -> tuple[list[str], int]:
        return [], start_history_id

    def recent(self, user: str, days: int) -> list[str]:
        return []

    def metadata(self, user: str, message_id: str) -> dict[str, Any] | None:
        return None

    def watch(self, user: str, topic: str, label_ids: list[str] | None = None) -> dict[str, Any]:
        self.watches.append(user)
        return {"historyId": None, "expiration": None, "dry_run": True}


class DryVitally:
    """Replay's Vitally: a ``vitally-sync`` tick is recorded, never called (the replay file
    holds no recorded pages, and replay never touches the network); the book keeps what
    the replayed events made of it."""

    def __init__(self) -> None:
        self.calls = 0

    def page(self, cursor: str | None, limit: int) -> dict[str, Any]:
        self.calls += 1
        return {"results": [], "next": None, "dry_run": True}


def replay_context(store: EmbeddedStore, policy: Policy, waiting: _Due) -> Context:
    """Replay's wiring: the embedded store, a publisher that only numbers the messages it
    would have sent (replay delivers them itself, in dry run), and a Gmail and a Vitally
    that record."""
    mailbox = DryMailbox()
    accounts = DryVitally()

    def collect(actions: list[Action], now: datetime) -> None:
        for action in actions:
            waiting.add(action)

    def publish(data: bytes, attributes: dict[str, str]) -> str:
        return f"replay:{attributes['action_id']}"

    return Context(
        store=store,
        policy=policy,
        publisher=publish,
        gmail=lambda address: mailbox,
        vitally=lambda: accounts,
        on_actions=collect,
        function="replay",
        publish_after_commit=False,
    )


class _Scheduler:
    """Cloud Scheduler, simulated between two moments of the replay clock: the ticks that
    would have done something (a timer due, an action falling due) at the times the
    policy's cron schedules would have fired them. Ticks in between that find nothing due
    are skipped: they would only have recorded that they ran."""

    def __init__(self, store: EmbeddedStore, policy: Policy, waiting: _Due) -> None:
        self.store = store
        self.policy = policy
        self.waiting = waiting
        # source-watch is not simulated: the gaps between a replay's lines are the
        # recording's, not a source gone quiet (a {"job": "source-watch"} line runs it).
        self.jobs = {c.job: c for c in policy.cadences if c.enabled and c.job != "source-watch"}
        # The replay clock only moves forward: no tick before the last moment replayed, and
        # never the same slot of a job twice (so the loop always progresses).
        self.clock: datetime | None = None
        self.last: dict[str, datetime] = {}

    def advance(self, moment: datetime) -> None:
        self.clock = moment if self.clock is None else max(self.clock, moment)

    def _slot_at_or_after(self, job: str, moment: datetime) -> datetime | None:
        cadence = self.jobs.get(job)
        if cadence is None:
            return None
        earliest = max(moment, self.clock or moment)
        if job in self.last:
            earliest = max(earliest, self.last[job] + timedelta(microseconds=1))
        # fire_times gives slots after its start: a hair before ``earliest`` includes it.
        start = earliest - timedelta(microseconds=1)
        found = fire_times(cadence.schedule, cadence.time_zone, start, earliest + timedelta(days=32))
        return found[0] if found else None

    def _cadence_slot(self, job: str, until: datetime) -> datetime | None:
        """The first slot of a cadence job, up to ``until``, at which something is owed
        that was not done yet (a slot with nothing owed would only record that it ran)."""
        from shared.cadences import cadence, due_event

        moment = self.clock
        if moment is None:
            return None
        for _ in range(400):
            slot = self._slot_at_or_after(job, moment)
            if slot is None or slot > until:
                return None
            owed = cadence(job).due(self.store, self.policy, slot)
            if any(self.store.get(PROCESSED, due_event(d, slot).marker_id) is None for d in owed):
                return slot
            moment = slot + timedelta(microseconds=1)
        return None

    def next_tick(self, until: datetime) -> tuple[datetime, str] | None:
        """The first (time, job) before or at ``until`` at which a scheduled tick has work."""
        candidates: list[tuple[datetime, str]] = []
        for job in self.jobs:
            due = self.store.query(TIMERS, Where("job", "==", job), Where("due_at", "<=", utc_text(until)))
            if due:
                first = min(datetime.fromisoformat(str(doc["due_at"])) for _, doc in due)
                slot = self._slot_at_or_after(job, first)
                if slot is not None and slot <= until:
                    candidates.append((slot, job))
        for job in self.jobs:
            if job in CADENCE_MODULES:
                slot = self._cadence_slot(job, until)
                if slot is not None:
                    candidates.append((slot, job))
        pending = self.waiting.next_due()
        if pending and "outbox-relay" in self.jobs:
            slot = self._slot_at_or_after("outbox-relay", datetime.fromisoformat(pending))
            if slot is not None and slot <= until:
                candidates.append((slot, "outbox-relay"))
        if not candidates:
            return None
        chosen = min(candidates)
        self.last[chosen[1]] = chosen[0]
        self.advance(chosen[0])
        return chosen


def _record(step: Step, result: ProcessResult) -> None:
    for child in [result, *result.children]:
        if child.outcome is not Outcome.APPLIED and child is result:
            step.outcome = child.outcome.value
            step.notes.append(child.reason)
        elif child.outcome is Outcome.REJECTED:
            step.notes.append(f"a timer was kept aside: {child.reason}")
        if child.decision is not None:
            step.notes.extend(child.decision.notes)
        for action in child.new_actions:
            dumped = child.action_docs.get(action.id)
            step.actions.append(dumped if dumped is not None else action.model_dump(mode="json"))


def replay(
    lines: Iterable[str],
    book: Book,
    policy: Policy,
    *,
    keep_going: bool = False,
    on_step: Callable[[Step], None] | None = None,
    store: EmbeddedStore | None = None,
    scheduler: bool = False,
    until: datetime | None = None,
) -> ReplayResult:
    """Run every line through the dispatcher; raises ``ReplayError`` naming the line.
    ``store`` (empty; a fresh one by default) is where the replay keeps its state.

    With ``scheduler``, Cloud Scheduler is simulated between lines (and on to ``until``):
    timers fire, and deferred actions are delivered, when the policy's enabled cadences
    would have ticked.
    """
    with muted(), _long_lived_heap():
        return _replay(lines, book, policy, keep_going, on_step, store, scheduler, until)


# Tracked objects allocated (net) between two young collections of the cycle collector
# while a replay runs; Python's default is 700.
REPLAY_GC_THRESHOLD = 50_000


@contextmanager
def _long_lived_heap() -> Iterator[None]:
    """A replay keeps what it builds (each line's step, every document of the store) to
    the end, and builds almost no reference cycles. At the collector's default pace its
    full collections walk that whole, growing heap again and again, finding nothing: a
    tenth of a long replay's time. Collecting less often while it runs keeps the young
    collections (cycles are still freed) and all but removes the full ones; the
    collector's own setting is restored after."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], REPLAY_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _replay(
    lines: Iterable[str],
    book: Book,
    policy: Policy,
    keep_going: bool,
    on_step: Callable[[Step], None] | None,
    store: EmbeddedStore | None,
    scheduler: bool,
    until: datetime | None,
) -> ReplayResult:
    parsed, skipped = read_lines(lines, keep_going)
    own = store is None  # nobody else holds the store: its documents can be handed over
    store = store if store is not None else EmbeddedStore()
    # The book is as of the replayed world's beginning (the dashboard's health counts
    # start that day), never the wall clock: the same input gives the same bytes.
    import_book(store, book, policy, now=parsed[0].at if parsed else until or REPLAY_EPOCH)
    steps: list[Step] = []
    order: list[str] = []
    waiting = _Due()
    ctx = replay_context(store, policy, waiting)
    simulated = _Scheduler(store, policy, waiting) if scheduler else None

    def finish(step: Step) -> None:
        for action in step.actions:
            order.append(action["id"])
        step.delivered = waiting.deliver(store, policy, step.line.at)
        steps.append(step)
        if on_step:
            on_step(step)

    def run_scheduled(up_to: datetime) -> None:
        while simulated is not None:
            found = simulated.next_tick(up_to)
            if found is None:
                return
            at, job = found
            step = Step(Line(0, at, "tick", {"job": job}), "applied")
            _record(step, dispatch(ctx, tick_event(job, at, at, policy), at))
            finish(step)

    if simulated is not None and parsed:
        # The replayed world begins at its first line: Cloud Scheduler never ticks before
        # it (a timer already due then, e.g. a renewal process imported late, fires at the
        # first slot after it).
        simulated.advance(parsed[0].at)
    for line in parsed:
        run_scheduled(line.at)
        if simulated is not None:
            simulated.advance(line.at)
        step = Step(line, "applied")
        try:
            events = check_line(line, policy)
            if not events:
                step.outcome = "ignored"
                step.notes.append("not an event taops acts on")
            for event in events:
                _record(step, dispatch(ctx, event, line.at))
        except PermanentError as exc:
            if not keep_going:
                raise ReplayError(f"line {line.number}: {exc.reason}") from None
            skipped.append(f"line {line.number}: {exc.reason}")
            step.outcome = "skipped"
        finish(step)
    if until is not None:
        run_scheduled(until)
    # Each action the lines made, in the order they made it, as it stands now: read one by
    # one (the outbox holds every action, and a query of it all would copy each twice).
    actions = [doc for doc in (store.get(OUTBOX, i) for i in dict.fromkeys(order)) if doc is not None]
    return ReplayResult(steps, actions, store.dump(copy=not own), skipped)


def dumps_actions(actions: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(a, sort_keys=True) + "\n" for a in actions)


def dumps_state(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True, indent=1) + "\n"
