"""Replaying recorded events through the real handlers, on the embedded store, with a
simulated clock and dry-run delivery.

Input (design §3): one JSON object a line, in time order,
``{"at": ISO-8601, "source": "deel" | "salesforce" | "vitally" | "gmail" | "tick", "payload": ...}``.
Vendor payloads are the bodies the webhooks receive (no signatures: replay trusts its
file), Gmail payloads are message resources in ``format=metadata``, ticks are
``{"job": NAME}``. The clock follows each line's ``at``; after each line every action that
is due is delivered in dry-run mode. The same book and events always give the same bytes.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.book import Book, import_book
from shared.delivery import deliver
from shared.events import EventEnvelope
from shared.exceptions import PermanentError, TaopsError
from shared.handlers import group_message, health_changed, pto_logged, renewal_changed
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import OUTBOX, Handler, Outcome, dead_letter, process
from shared.sources import deel, gmail, salesforce, vitally
from shared.store import EmbeddedStore

SOURCES = ("deel", "salesforce", "vitally", "gmail", "tick")


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


def normalize_line(line: Line, policy: Policy) -> tuple[list[EventEnvelope], Handler | None]:
    """Normalise a line the way its edge would; ``PermanentError`` for a bad payload."""
    if line.source == "deel":
        return deel.normalize(line.payload, line.at), pto_logged(policy)
    if line.source == "vitally":
        return vitally.normalize(line.payload, line.at), health_changed(policy)
    if line.source == "salesforce":
        if isinstance(line.payload, str):
            notes = salesforce.parse_outbound_message(line.payload.encode())
            return salesforce.normalize_outbound_message(notes, line.at), renewal_changed(policy)
        return salesforce.normalize_cdc(line.payload, line.at), renewal_changed(policy)
    if line.source == "gmail":
        mailbox = policy.group_mail.address
        event = gmail.normalize_message(line.payload, mailbox, line.at, policy.group_mail.company_domains)
        return [event], group_message(policy)
    return [], None


class _Due:
    """The outbox actions replay has made, by the time they become due, so that each line
    delivers what is due without rescanning the whole outbox (a long history leaves many
    actions waiting for their time). Delivery re-reads each action: one cancelled in the
    meantime is skipped, and one revived later is handed in again by ``process``."""

    def __init__(self) -> None:
        self._heap: list[tuple[str, str]] = []

    def add(self, action: dict[str, Any]) -> None:
        heapq.heappush(self._heap, (str(action.get("not_before") or ""), str(action["id"])))

    def deliver(self, store: EmbeddedStore, policy: Policy, now: datetime) -> list[dict[str, Any]]:
        due: set[str] = set()
        cutoff = utc_text(now)  # "" (no not_before) sorts first: always due
        while self._heap and self._heap[0][0] <= cutoff:
            due.add(heapq.heappop(self._heap)[1])
        delivered = []
        for action_id in sorted(due):
            doc = store.get(OUTBOX, action_id)
            if doc is not None and doc.get("status") == "pending":
                deliver(store, action_id, {}, policy.delivery, now, dry=True)
                delivered.append(doc)
        return delivered


def replay(
    lines: Iterable[str],
    book: Book,
    policy: Policy,
    *,
    keep_going: bool = False,
    on_step: Callable[[Step], None] | None = None,
    store: EmbeddedStore | None = None,
) -> ReplayResult:
    """Run every line through the real handlers; raises ``ReplayError`` naming the line.
    ``store`` (empty; a fresh one by default) is where the replay keeps its state."""
    parsed, skipped = read_lines(lines, keep_going)
    store = store if store is not None else EmbeddedStore()
    import_book(store, book, policy)
    steps: list[Step] = []
    order: list[str] = []
    waiting = _Due()
    for line in parsed:
        step = Step(line, "applied")
        events: list[EventEnvelope] = []
        handler: Handler | None = None
        try:
            if line.source == "tick":
                job = line.payload.get("job") if isinstance(line.payload, dict) else None
                if job != "outbox-relay":
                    step.outcome = "noted"
                    step.notes.append(f"tick {job!r}: nothing to replay for this job")
            else:
                events, handler = normalize_line(line, policy)
                if not events:
                    step.outcome = "ignored"
                    step.notes.append("not an event taops acts on")
            for event in events:
                assert handler is not None
                try:
                    result = process(
                        store, event, handler, line.at, retention_days=policy.events.marker_retention_days
                    )
                except PermanentError as exc:
                    dead_letter(
                        store,
                        source=line.source,
                        function="replay",
                        reason=exc.reason,
                        raw=json.dumps(line.payload),
                        now=line.at,
                        event_id=event.event_id,
                    )
                    step.outcome = "rejected"
                    step.notes.append(exc.reason)
                    continue
                if result.outcome is not Outcome.APPLIED:
                    step.outcome = result.outcome.value
                    step.notes.append(result.reason)
                if result.decision is not None:
                    step.notes.extend(result.decision.notes)
                for action in result.new_actions:
                    order.append(action.id)
                    step.actions.append(action.model_dump(mode="json"))
                    waiting.add(step.actions[-1])
        except PermanentError as exc:
            if not keep_going:
                raise ReplayError(f"line {line.number}: {exc.reason}") from None
            skipped.append(f"line {line.number}: {exc.reason}")
            step.outcome = "skipped"
        step.delivered = waiting.deliver(store, policy, line.at)
        steps.append(step)
        if on_step:
            on_step(step)
    outbox = dict(store.query(OUTBOX))
    actions = [outbox[i] for i in dict.fromkeys(order) if i in outbox]
    return ReplayResult(steps, actions, store.dump(), skipped)


def dumps_actions(actions: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(a, sort_keys=True) + "\n" for a in actions)


def dumps_state(state: dict[str, Any]) -> str:
    return json.dumps(state, sort_keys=True, indent=1) + "\n"
