"""Document reads per event type and per tick job, against directory and book size.

Each case starts from a fresh embedded store holding the demo book (14 people, 40
accounts), padded to a bigger directory and a bigger book: extra TAs of another manager,
and extra accounts, copies of the demo's owned by those TAs. Its setup events run first
(a time off requested before it is approved, a customer's message before the team
replies); then the store's ``reads`` counter is read around the one event measured, sent
through ``shared.dispatch.dispatch`` as a deployed consumer sends it (the handler's
transaction, and the source's "heard" record). Vendor events are built by the real
normalisers (``shared.replay.normalize_line``) from the vendor shapes in ``tests/events/``.

A query costs one read per document it returns, and one when it returns none (as
Firestore bills it). Publishing is off: a deployed consumer also reads each action it
publishes at once, once (``shared.outbox.publish``).

``python bench/reads_per_event.py [--sizes 14x40,2000x40,2000x2000] [--json]``
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.dispatch import dispatch
from shared.events import EventEnvelope
from shared.handlers import timer_event
from shared.jobs import tick_event
from shared.logs import muted
from shared.policy import Policy, load_policy
from shared.processing import OUTBOX, TIMERS, Outcome
from shared.replay import Line, normalize_line
from shared.store import Document, EmbeddedStore, Where

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
BOOK = ROOT / "shared" / "demo" / "book.json"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday
SIZES = ((14, 40), (2000, 40), (2000, 2000))


def _load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def padded_book(people: int, accounts: int, *, account_teams: bool = True) -> dict[str, Any]:
    """The demo book with ``people`` people and ``accounts`` accounts: the extra people
    are TAs of another manager (no peers), the extra accounts copies of the demo's,
    without vendor ids, each owned by one of the extra TAs (with the demo's AE, CE and IE,
    unless not ``account_teams``)."""
    data = json.loads(BOOK.read_text())
    template = next(p for p in data["people"] if p["email"] == "ben@example.com")
    extra_people = [f"ta{n}@other.example.com" for n in range(people - len(data["people"]))]
    for n, email in enumerate(extra_people):
        data["people"].append(
            {
                **template,
                "email": email,
                "name": f"Other TA {n}",
                "manager": None,
                "coverage_peers": [],
                "slack_id": None,
            }
        )
    demo = list(data["accounts"])
    for n in range(accounts - len(demo)):
        if not extra_people:
            raise SystemExit("a book bigger than the demo's needs a bigger directory (its extra TAs own it)")
        extra = copy.deepcopy(demo[n % len(demo)])
        for vendor in ("salesforce_id", "vitally_id", "renewal_opportunity_id", "slack_channel"):
            extra.pop(vendor, None)
        extra.update(
            id=f"pad-{n}",
            name=f"Padded {n}",
            ta=extra_people[n % len(extra_people)],
            champions=[f"champion@pad-{n}.test"] if extra.get("champions") else [],
        )
        if not account_teams:
            extra.update(ae=None, ce=None, ie=None)
        data["accounts"].append(extra)
    return data


# -- vendor events ---------------------------------------------------------------------


def deel(status: str, event_type: str, at: datetime, who: str = "ana@example.com") -> Line:
    body = _load("deel_time_off_reviewed_approved.json")
    body["data"]["meta"]["event_type"] = event_type
    body["data"]["resource"].update(
        id="pto-bench",
        status=status,
        start_date="2026-12-14",
        end_date="2026-12-18",
        updated_at=at.isoformat().replace("+00:00", "Z"),
    )
    body["data"]["resource"]["requester"]["work_email"] = who
    return Line(0, at, "deel", body)


def cdc(account_sf: str, close: str, at: datetime) -> Line:
    body = _load("salesforce_cdc_opportunity_update_cometd.json")
    body["payload"]["ChangeEventHeader"]["commitTimestamp"] = int(at.timestamp() * 1000)
    body["payload"]["ChangeEventHeader"]["changedFields"].append("Type")
    body["payload"].update(
        AccountId=account_sf, Type="Renewal", CloseDate=close, LastModifiedDate=at.isoformat()
    )
    return Line(0, at, "salesforce", body)


def vitally(account: str, vitally_id: str, score: float, at: datetime) -> Line:
    body = _load("vitally_playbook_webhook_UNCONFIRMED.json")
    body["match"]["account"].update(id=vitally_id, externalId=account, healthScore=score)
    return Line(0, at, "vitally", body)


def mail(sender: str, thread: str, n: int, at: datetime) -> Line:
    message = _load("gmail_message_get_metadata_response.json")
    message.update(id=f"msg-{thread}-{n}", threadId=thread, internalDate=str(int(at.timestamp() * 1000)))
    for header in message["payload"]["headers"]:
        if header["name"] == "From":
            header["value"] = sender
    return Line(0, at, "gmail", message)


def person(payload: dict[str, Any], at: datetime) -> Line:
    return Line(0, at, "person", payload)


# -- the cases -------------------------------------------------------------------------


@dataclass
class World:
    ctx: Context
    store: EmbeddedStore
    policy: Policy

    def send(self, line: Line) -> None:
        for event in normalize_line(line, self.policy):
            result = dispatch(self.ctx, event, line.at)
            if result.outcome is not Outcome.APPLIED:
                raise SystemExit(f"setup event {event.type} was {result.outcome.value}: {result.reason}")

    def timer(self, kind: str, about: str) -> Document:
        """The one timer of ``kind`` whose subject ends with ``about``."""
        found = [
            doc
            for _, doc in self.store.query(TIMERS, Where("kind", "==", kind))
            if str(doc.get("subject")).endswith(about)
        ]
        if len(found) != 1:
            raise SystemExit(f"expected one {kind} timer about {about}, found {len(found)}")
        return found[0]


@dataclass
class Case:
    name: str
    kind: str  # "event" or "job"
    setup: Callable[[World], None]
    # The measured event and the moment it is applied at, from the world after its setup.
    event: Callable[[World], tuple[EventEnvelope, datetime]]
    notes: list[str] = field(default_factory=list)


def _vendor(line: Line) -> Callable[[World], tuple[EventEnvelope, datetime]]:
    def make(world: World) -> tuple[EventEnvelope, datetime]:
        [event] = normalize_line(line, world.policy)
        return event, line.at

    return make


def _nothing(world: World) -> None:
    pass


def _steps(*lines: Line) -> Callable[[World], None]:
    def run(world: World) -> None:
        for line in lines:
            world.send(line)

    return run


REQUESTED = deel("REQUESTED", "time-off.created", NOW)
APPROVED = deel("APPROVED", "time-off.reviewed", NOW + timedelta(hours=1))
CANCELLED = deel("CANCELED", "time-off.updated", NOW + timedelta(hours=2))
CUSTOMER = mail("Pat Champion <champion@globex.test>", "thread-bench", 1, NOW)
TEAM_REPLY = mail("Ben Cho <ben@example.com>", "thread-bench", 2, NOW + timedelta(hours=3))
RED = vitally("acme", "vit-acme", 3.0, NOW)
# Globex renews 2027-02-08: moved to 2027-06-30, its process (120 days before) waits on a timer.
LATER_RENEWAL = cdc("001DEMO0001", "2027-06-30", NOW)


def _timer(kind: str, about: str) -> Callable[[World], tuple[EventEnvelope, datetime]]:
    def make(world: World) -> tuple[EventEnvelope, datetime]:
        doc = world.timer(kind, about)
        due = datetime.fromisoformat(doc["due_at"])
        return timer_event(doc, due), due

    return make


def _tick(
    job: str, at: datetime | Callable[[World], datetime]
) -> Callable[[World], tuple[EventEnvelope, datetime]]:
    def make(world: World) -> tuple[EventEnvelope, datetime]:
        moment = at(world) if callable(at) else at
        return tick_event(job, moment, moment, world.policy), moment

    return make


def _due(kind: str, about: str) -> Callable[[World], datetime]:
    return lambda world: datetime.fromisoformat(world.timer(kind, about)["due_at"]) + timedelta(minutes=1)


def _cancel(world: World) -> tuple[EventEnvelope, datetime]:
    pending = sorted(i for i, d in world.store.query(OUTBOX, Where("status", "==", "pending")))
    at = NOW + timedelta(hours=2)
    line = person(
        {"decision": "outbox cancel", "action_id": pending[0], "by": "mara@example.com", "reason": "bench"},
        at,
    )
    [event] = normalize_line(line, world.policy)
    return event, at


CASES = [
    Case("pto.logged requested", "event", _nothing, _vendor(REQUESTED)),
    Case("pto.logged approved", "event", _steps(REQUESTED), _vendor(APPROVED)),
    Case("pto.logged cancelled", "event", _steps(REQUESTED, APPROVED), _vendor(CANCELLED)),
    Case("renewal.changed, date moved", "event", _nothing, _vendor(LATER_RENEWAL)),
    Case(
        "renewal.changed, inside the window",
        "event",
        _nothing,
        _vendor(cdc("001DEMO0001", "2027-03-01", NOW)),
    ),
    Case("health.changed, same category", "event", _nothing, _vendor(vitally("acme", "vit-acme", 8.6, NOW))),
    Case("health.changed, new category", "event", _nothing, _vendor(RED)),
    Case("mail.group_message, customer", "event", _nothing, _vendor(CUSTOMER)),
    Case("mail.group_message, team reply", "event", _steps(CUSTOMER), _vendor(TEAM_REPLY)),
    Case("timer.fired sla", "event", _steps(CUSTOMER), _timer("sla", "thread-bench")),
    Case("timer.fired health", "event", _steps(RED), _timer("health", "acme")),
    Case("timer.fired renewal", "event", _steps(LATER_RENEWAL), _timer("renewal", "globex")),
    Case(
        "lighthouse.exit",
        "event",
        _nothing,
        _vendor(person({"decision": "lighthouse exit", "account": "hooli", "by": "mara@example.com"}, NOW)),
    ),
    Case("outbox.cancel", "event", _steps(REQUESTED, APPROVED), _cancel),
    Case("sla-check (1 due)", "job", _steps(CUSTOMER), _tick("sla-check", _due("sla", "thread-bench"))),
    Case("sla-check (none due)", "job", _steps(CUSTOMER), _tick("sla-check", NOW + timedelta(hours=1))),
    Case("health-check (1 due)", "job", _steps(RED), _tick("health-check", _due("health", "acme"))),
    Case(
        "renewal-process", "job", _steps(LATER_RENEWAL), _tick("renewal-process", _due("renewal", "globex"))
    ),
    Case("seat-check", "job", _nothing, _tick("seat-check", datetime(2026, 11, 24, 7, 0, tzinfo=UTC))),
    Case("mbr-reminder", "job", _nothing, _tick("mbr-reminder", datetime(2026, 12, 9, 9, 0, tzinfo=UTC))),
    Case(
        "mbr-reminder (none due)",
        "job",
        _nothing,
        _tick("mbr-reminder", datetime(2026, 12, 29, 9, 0, tzinfo=UTC)),
    ),
    Case("qbr-reminder", "job", _nothing, _tick("qbr-reminder", datetime(2027, 1, 27, 9, 0, tzinfo=UTC))),
    Case(
        "qbr-reminder (none due)",
        "job",
        _nothing,
        _tick("qbr-reminder", datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),
    ),
    Case("contact-check", "job", _nothing, _tick("contact-check", datetime(2026, 11, 24, 9, 0, tzinfo=UTC))),
    Case("health-traits", "job", _nothing, _tick("health-traits", datetime(2026, 12, 1, 9, 0, tzinfo=UTC))),
    Case("weekly-digest", "job", _nothing, _tick("weekly-digest", datetime(2026, 11, 30, 8, 0, tzinfo=UTC))),
    Case("call-offer", "job", _nothing, _tick("call-offer", datetime(2027, 2, 1, 9, 0, tzinfo=UTC))),
    Case("usage-recap", "job", _nothing, _tick("usage-recap", datetime(2026, 12, 1, 9, 0, tzinfo=UTC))),
    Case(
        "outbox-relay",
        "job",
        _steps(REQUESTED, APPROVED),
        _tick("outbox-relay", datetime(2026, 12, 14, 9, 0, tzinfo=UTC)),
    ),
    Case("source-watch", "job", _nothing, _tick("source-watch", NOW + timedelta(minutes=10))),
]


def snapshot(
    policy: Policy, people: int, accounts: int, *, account_teams: bool = True
) -> dict[str, dict[str, Document]]:
    """The padded book imported at ``NOW``, as a state to start each case from."""
    store = EmbeddedStore()
    book = padded_book(people, accounts, account_teams=account_teams)
    import_book(store, parse_book(book), policy, now=NOW)
    return store.dump()


def measure(case: Case, state: dict[str, dict[str, Document]], policy: Policy) -> dict[str, Any]:
    store = EmbeddedStore()
    store.put_many((c, i, d) for c, docs in state.items() for i, d in docs.items())
    # The relay needs a publisher; nothing leaves the process.
    publisher = (lambda data, attributes: f"bench:{attributes['action_id']}") if case.kind == "job" else None
    world = World(Context(store, policy, publisher=publisher, function="bench"), store, policy)
    case.setup(world)
    event, at = case.event(world)
    before = store.reads
    result = dispatch(world.ctx, event, at)
    reads = store.reads - before
    if result.outcome is Outcome.REJECTED:
        raise SystemExit(f"{case.name}: rejected: {result.reason}")
    summary = None
    if case.kind == "job" and result.decision is not None and result.decision.notes:
        summary = result.decision.notes[0]
    due = re.search(r"\bdue (\d+)", summary or "")
    return {
        "reads": reads,
        "outcome": result.outcome.value,
        "actions": len(result.new_actions),
        "summary": summary,
        "due": int(due.group(1)) if due else None,
    }


def run(sizes: list[tuple[int, int]], names: list[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    policy = load_policy()
    table: dict[str, dict[str, dict[str, Any]]] = {}
    with muted():
        for people, accounts in sizes:
            state = snapshot(policy, people, accounts)
            for case in CASES:
                if names and case.name not in names:
                    continue
                table.setdefault(case.name, {})[f"{people}x{accounts}"] = measure(case, state, policy)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(f"{p}x{a}" for p, a in SIZES))
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [tuple(int(n) for n in s.split("x")) for s in args.sizes.split(",")]
    table = run(sizes, args.case)  # type: ignore[arg-type]
    if args.json:
        print(json.dumps(table, indent=1))
        return
    labels = [f"{p} people, {a} accounts" for p, a in sizes]
    keys = [f"{p}x{a}" for p, a in sizes]
    width = max(len(n) for n in table)
    print("Document reads of one event, or of one tick with (in brackets) how many reactions were due.\n")
    print(f"| {'event / job':<{width}} | " + " | ".join(labels) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(label) + 1) + ":" for label in labels) + "|")
    for name, row in table.items():
        cells = []
        for key, label in zip(keys, labels, strict=True):
            found = row[key]
            due = f" ({found['due']:,})" if found["due"] is not None else ""
            cells.append(f"{found['reads']:,}{due}".rjust(len(label)))
        print(f"| {name:<{width}} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
