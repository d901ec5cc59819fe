"""A burst of vendor traffic against a running ``taops dev``, and its accounting.

Used by ``bench/burst.py`` (2,000 calls, with figures) and by the integration tests (a
few hundred, with exact assertions). Traffic goes only to the pipeline's own ports on
127.0.0.1.

The traffic (``plan``), built from the vendor fixtures in ``tests/events`` and the book:

- Deel time off (``deel_webhook``, signed ``x-deel-signature``): each its own absence of
  a TA of the book, approved; a few of them also arrive *late*: the same absence's
  earlier ``time-off.created`` version, posted only once the approved one was applied,
  so it must come out ``stale``;
- Salesforce Change Data Capture from a relay (``salesforce_webhook``, token and org id
  headers): the renewal opportunity of an account of the book, moving its stage, amount
  and close date, each change with a later ``commitTimestamp``; late ones as for Deel;
- Vitally playbook pings (``vitally_webhook``, token header): an account's health score,
  each with a later ``updatedAt``;
- Gmail: a customer's mail arriving in the pooled mailbox (the dev Gmail stand-in
  publishes Gmail's push to ``gmail-push``, as Gmail does);
- exact duplicates of earlier calls (the same bytes again; for Gmail, the same push
  notification published again, as Pub/Sub or Gmail repeat it);
- a few signed bodies that cannot be processed (a Deel time off ending before it
  starts): 400 and kept in ``dead_letters``.

Several events about one entity (one account's health, one opportunity) posted 16 at a
time may be applied out of the order they were posted in; the older one then is
``stale``. The accounting (``account``) checks each such stale event against the store:
a newer version of the same entity was applied, and the entity's version kept is the
newest posted.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
KINDS = ("deel", "salesforce", "vitally", "gmail")
# Shares of the calls that are new events (the rest: duplicates, late and bad ones).
MIX = {"deel": 0.35, "salesforce": 0.2, "vitally": 0.25, "gmail": 0.2}
DUPLICATE_SHARE = 0.10
LATE_SHARE = 0.05
BAD_SHARE = 0.02
VERSION_BASE = datetime(2026, 11, 1, tzinfo=UTC)
# Wait this long at most for an event to be applied before posting its late version.
LATE_WAIT_S = 120.0


@dataclass
class Call:
    """One request of the burst."""

    n: int
    kind: str  # deel | salesforce | vitally | gmail | gmail-push (a repeated push) | bad
    role: str  # new | duplicate | late | bad
    body: bytes
    # The call this one repeats (duplicate), or the newer version it must follow (late).
    of: int | None = None
    entity: str = ""
    # Answers, filled in by ``post``.
    status: int | None = None
    event_ids: list[str] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=dict)
    posted_at: float = 0.0  # epoch seconds
    answered_at: float = 0.0


@dataclass
class Target:
    """Where and how to post: the running pipeline's URLs and secrets."""

    urls: dict[str, str]
    env: dict[str, str]
    gmail_url: str
    mailbox: str


def _load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class _Maker:
    """Bodies of each kind, each a new event (numbered by ``n``)."""

    def __init__(self, book: dict[str, Any], seed: int) -> None:
        self.rng = random.Random(seed)
        self.tas = sorted(p["email"] for p in book["people"] if p["role"] == "TA")
        self.accounts = sorted(book["accounts"], key=lambda a: a["id"])
        self.champions = sorted(c for a in self.accounts for c in a.get("champions") or [])
        self.approved = _load("deel_time_off_reviewed_approved.json")
        self.created = _load("deel_time_off_created.json")
        self.sf = _load("salesforce_cdc_opportunity_update_pubsub_decoded.json")
        self.ping = _load("vitally_playbook_webhook_UNCONFIRMED.json")
        self.mail = _load("gmail_message_get_metadata_response.json")
        self.opp_version: dict[str, int] = defaultdict(int)

    def _deel(self, template: dict[str, Any], n: int, status: str, updated: datetime) -> dict[str, Any]:
        body = copy.deepcopy(template)
        resource = body["data"]["resource"]
        ta = self.tas[n % len(self.tas)]
        first = date(2027, 1, 4) + timedelta(days=(n // len(self.tas)) * 3 % 700)
        resource.update(
            id=f"burst-absence-{n}",
            start_date=first.isoformat(),
            end_date=(first + timedelta(days=1)).isoformat(),
            status=status,
            updated_at=updated.isoformat().replace("+00:00", "Z"),
        )
        resource["requester"]["work_email"] = ta
        body["data"]["meta"]["tracking_id"] = f"burst-{n}-{status.lower()}"
        return body

    def deel(self, n: int) -> tuple[bytes, str]:
        updated = VERSION_BASE + timedelta(hours=2, seconds=n)
        return _compact(self._deel(self.approved, n, "APPROVED", updated)), f"absence:burst-absence-{n}"

    def deel_late(self, n: int) -> bytes:
        """The same absence as ``deel(n)``, as it was when requested (an older version)."""
        body = self._deel(self.created, n, "REQUESTED", VERSION_BASE + timedelta(seconds=n))
        return _compact(body)

    def deel_bad(self, n: int) -> bytes:
        body = self._deel(self.approved, n, "APPROVED", VERSION_BASE + timedelta(seconds=n))
        body["data"]["resource"].update(start_date="2027-03-10", end_date="2027-03-01")
        return _compact(body)

    def _opportunity(self, n: int, account: dict[str, Any], committed: datetime) -> bytes:
        body = copy.deepcopy(self.sf)
        opp = f"006BURST-{account['id']}"
        header = body["ChangeEventHeader"]
        header.update(
            recordIds=[opp],
            transactionKey=f"burst-{n}",
            sequenceNumber=1,
            commitNumber=n,
            commitTimestamp=int(committed.timestamp() * 1000),
            changedFields=["StageName", "Amount", "CloseDate"],
        )
        close = date(2027, 2, 1) + timedelta(days=self.rng.randrange(0, 300))
        body.update(
            AccountId=account["salesforce_id"],
            Name=f"{account['name']} renewal",
            Type="Renewal",
            StageName=self.rng.choice(["Prospecting", "Negotiation/Review", "Proposal/Price Quote"]),
            Amount=float(self.rng.randrange(50, 900) * 1000),
            CloseDate=close.isoformat(),
            LastModifiedDate=header["commitTimestamp"],
        )
        return _compact(body)

    def salesforce(self, n: int) -> tuple[bytes, str]:
        account = self.accounts[self.rng.randrange(len(self.accounts))]
        committed = VERSION_BASE + timedelta(hours=2, seconds=n)
        return self._opportunity(n, account, committed), f"opportunity:006BURST-{account['id']}"

    def salesforce_late(self, n: int, entity: str) -> bytes:
        account = next(a for a in self.accounts if entity == f"opportunity:006BURST-{a['id']}")
        return self._opportunity(n, account, VERSION_BASE + timedelta(seconds=n))

    def vitally(self, n: int) -> tuple[bytes, str]:
        account = self.accounts[self.rng.randrange(len(self.accounts))]
        body = copy.deepcopy(self.ping)
        body["match"]["account"].update(
            id=account["vitally_id"],
            externalId=account["id"],
            name=account["name"],
            healthScore=round(self.rng.uniform(1.0, 10.0), 1),
            updatedAt=(VERSION_BASE + timedelta(hours=2, seconds=n)).isoformat().replace("+00:00", "Z"),
        )
        return _compact(body), f"vitally-account:{account['vitally_id']}"

    def gmail(self, n: int, mailbox: str) -> bytes:
        message = {
            k: v for k, v in self.mail.items() if k not in ("id", "threadId", "historyId", "internalDate")
        }
        sender = self.champions[n % len(self.champions)] if self.champions else "customer@customer.test"
        message["snippet"] = f"Question {n} about our deployment"
        message["payload"] = {
            **self.mail["payload"],
            "headers": [
                {"name": "From", "value": f"Customer <{sender}>"},
                {"name": "To", "value": mailbox},
                {"name": "Subject", "value": f"Question {n}"},
                {"name": "Message-ID", "value": f"<burst-{n}@customer.test>"},
            ],
        }
        return _compact(message)


def plan(count: int, book: dict[str, Any], mailbox: str, seed: int = 15) -> list[Call]:
    """``count`` calls: new events of each kind (``MIX``), then ``DUPLICATE_SHARE``
    duplicates, ``LATE_SHARE`` late versions and ``BAD_SHARE`` bad bodies placed after
    what they repeat or follow, shuffled otherwise."""
    maker = _Maker(book, seed)
    rng = random.Random(seed)
    duplicates = round(count * DUPLICATE_SHARE)
    late = round(count * LATE_SHARE)
    bad = max(1, round(count * BAD_SHARE))
    fresh = count - duplicates - late - bad
    kinds = [k for k, share in MIX.items() for _ in range(round(fresh * share))]
    kinds = (kinds + ["deel"] * fresh)[:fresh]
    rng.shuffle(kinds)
    calls: list[Call] = []
    for kind in kinds:
        n = len(calls)
        if kind == "deel":
            body, entity = maker.deel(n)
        elif kind == "salesforce":
            body, entity = maker.salesforce(n)
        elif kind == "vitally":
            body, entity = maker.vitally(n)
        else:
            body, entity = maker.gmail(n, mailbox), ""
        calls.append(Call(n, kind, "new", body, entity=entity))
    extra: list[Call] = []
    # Late versions: of Deel absences and Salesforce opportunities, one each at most.
    lateable = [c for c in calls if c.kind in ("deel", "salesforce")]
    followed = rng.sample(lateable, min(late, len(lateable)))
    for newer in followed:
        n = len(calls) + len(extra)
        body = maker.deel_late(newer.n) if newer.kind == "deel" else maker.salesforce_late(n, newer.entity)
        extra.append(Call(n, newer.kind, "late", body, of=newer.n, entity=newer.entity))
    for original in rng.sample(calls, duplicates):
        n = len(calls) + len(extra)
        kind = "gmail-push" if original.kind == "gmail" else original.kind
        extra.append(Call(n, kind, "duplicate", original.body, of=original.n, entity=original.entity))
    for _ in range(bad):
        n = len(calls) + len(extra)
        extra.append(Call(n, "bad", "bad", maker.deel_bad(n)))
    # Each extra call goes somewhere after what it refers to; the rest keeps its order.
    ordered: list[Call] = list(calls)
    for call in extra:
        earliest = 0 if call.of is None else ordered.index(calls[call.of]) + 1
        ordered.insert(rng.randint(earliest, len(ordered)), call)
    return ordered


# -- posting -------------------------------------------------------------------------------


def _request(call: Call, target: Target) -> tuple[str, dict[str, str]]:
    from shared.sources import deel

    env = target.env
    json_type = {"content-type": "application/json"}
    if call.kind in ("deel", "bad"):
        return target.urls["deel_webhook"], {
            **json_type,
            "x-deel-signature": deel.signature(env["TAOPS_DEEL_SIGNING_KEY"], call.body),
        }
    if call.kind == "salesforce":
        org = env["TAOPS_SALESFORCE_ORG_IDS"].split(",")[0]
        return target.urls["salesforce_webhook"], {
            **json_type,
            "x-taops-token": env["TAOPS_SALESFORCE_TOKEN"],
            "x-salesforce-org-id": org,
        }
    if call.kind == "vitally":
        return target.urls["vitally_webhook"], {**json_type, "x-taops-token": env["TAOPS_VITALLY_TOKEN"]}
    if call.kind == "gmail":
        return target.gmail_url.rstrip("/") + "/dev/messages", json_type
    raise ValueError(call.kind)


def _quietly(check: Callable[[Call], bool], call: Call) -> bool:
    """``check(call)``, False while the store does not answer (a fault test pauses it)."""
    try:
        return check(call)
    except Exception:
        return False


def post(
    calls: list[Call],
    target: Target,
    applied: Callable[[Call], bool],
    concurrency: int = 16,
    timeout: float = 60.0,
) -> float:
    """Post every call, ``concurrency`` at a time, in order of the list; a late call first
    waits (at most ``LATE_WAIT_S``) until ``applied`` says the call it follows was. Returns
    the wall time the posting took."""
    from shared import pubsub

    by_n = {c.n: c for c in calls}
    answered = {c.n: threading.Event() for c in calls}

    def send(call: Call, client: httpx.Client) -> None:
        try:
            if call.role in ("late", "duplicate") and call.of is not None:
                answered[call.of].wait(timeout)
            if call.role == "late" and call.of is not None:
                deadline = time.monotonic() + LATE_WAIT_S
                while time.monotonic() < deadline and not _quietly(applied, by_n[call.of]):
                    time.sleep(0.1)
            call.posted_at = time.time()
            if call.kind == "gmail-push":
                original = by_n[call.of] if call.of is not None else call
                if "historyId" not in original.answer:
                    raise ValueError(f"the mail it repeats never arrived: {original.answer}")
                notification = {"emailAddress": target.mailbox, "historyId": original.answer["historyId"]}
                pubsub.publish("gmail-push", _compact(notification))
                call.status = 200
            else:
                url, headers = _request(call, target)
                response = client.post(url, content=call.body, headers=headers)
                call.status = response.status_code
                call.answer = response.json() if "json" in response.headers.get("content-type", "") else {}
                call.event_ids = list(call.answer.get("event_ids") or [])
        except Exception as exc:  # the accounting reports it as a call that was not answered
            call.status = 0
            call.answer = {"error": f"{exc.__class__.__name__}: {exc}"[:300]}
        finally:
            call.answered_at = time.time()
            answered[call.n].set()

    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=timeout, limits=limits) as client, ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(send, call, client) for call in calls]
        for future in futures:
            future.result()
    return time.monotonic() - started


# -- accounting ----------------------------------------------------------------------------


def dead_letter_id(source: str, body: bytes) -> str:
    """The ``dead_letters`` document a refused body is kept under (``shared.processing``)."""
    return hashlib.sha256(source.encode() + b"\0" + body).hexdigest()[:32]


def log_outcomes(log_files: list[Path]) -> dict[str, Counter[str]]:
    """event id → how many deliveries the dispatcher logged as each outcome."""
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for path in log_files:
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = str(entry.get("message", ""))
            event_id = entry.get("event_id")
            if not event_id:
                continue
            if message.startswith("event ") and message.split(" ", 1)[1] in (
                "applied",
                "duplicate",
                "stale",
                "conflict",
            ):
                seen[str(event_id)][message.split(" ", 1)[1]] += 1
            elif message.startswith("rejected:"):
                seen[str(event_id)]["rejected"] += 1
    return seen


@dataclass
class Accounting:
    """Each call's category, and what contradicts it."""

    table: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, category) → calls
    problems: list[str] = field(default_factory=list)
    # Seconds from a new event's POST to its marker (the commit that applied it).
    applied_after: list[float] = field(default_factory=list)
    # A new event's call number → when its commit happened (epoch seconds).
    applied_at: dict[int, float] = field(default_factory=dict)
    answer_after: list[float] = field(default_factory=list)
    unplanned_stale: int = 0
    # Valid events a handler refused and kept in dead_letters: (call, reason).
    kept: list[tuple[str, str]] = field(default_factory=list)
    redeliveries: int = 0
    actions: int = 0
    events: int = 0
    last_applied: float = 0.0

    def count(self, kind: str, category: str) -> int:
        return self.table[(kind, category)]

    def total(self, category: str) -> int:
        return sum(n for (_, c), n in self.table.items() if c == category)


def _gmail_event_ids(calls: list[Call], mailbox: str) -> dict[int, str]:
    return {c.n: f"{mailbox}:{c.answer.get('id')}" for c in calls if c.kind == "gmail" and c.answer.get("id")}


def expected_events(calls: list[Call], mailbox: str) -> set[str]:
    """The event ids the burst's answers name (webhooks) or caused (mail arriving)."""
    ids = {e for c in calls for e in c.event_ids}
    return ids | set(_gmail_event_ids(calls, mailbox).values())


def account(
    calls: list[Call],
    mailbox: str,
    markers: dict[str, dict[str, Any]],
    versions: dict[str, dict[str, Any]],
    dead_letters: Mapping[str, Mapping[str, Any]],
    outbox: list[dict[str, Any]],
    published: Counter[str],
    outcomes: dict[str, Counter[str]],
) -> Accounting:
    """Put each call in one category (applied, duplicate, stale, dead-lettered) from what
    the pipeline recorded, and list every contradiction: an event with no marker or a
    marker nobody posted, an event applied twice, a stale event no newer version explains,
    an entity left at an older version than the newest posted, a refused body not kept, an
    action decided or published twice."""
    result = Accounting()
    problems = result.problems
    gmail_ids = _gmail_event_ids(calls, mailbox)
    by_event: dict[str, list[Call]] = defaultdict(list)
    for call in calls:
        ids = [gmail_ids[call.n]] if call.n in gmail_ids else call.event_ids
        for event_id in ids:
            by_event[event_id].append(call)
    markers_by_event = {m["event_id"]: m for m in markers.values() if m.get("event_id")}
    kept_by_event = {d["event_id"]: d for d in dead_letters.values() if d.get("event_id")}
    for call in calls:
        label = f"call {call.n} ({call.kind}, {call.role})"
        if call.role == "bad":
            if call.status != 400:
                problems.append(f"{label}: answered {call.status}, not 400")
            elif dead_letter_id("deel", call.body) not in dead_letters:
                problems.append(f"{label}: refused but not kept in dead_letters")
            else:
                result.table[(call.kind, "dead-lettered")] += 1
            continue
        if call.status != 200:
            problems.append(f"{label}: answered {call.status} {str(call.answer)[:200]}")
            continue
        if call.kind == "gmail-push":
            # The same push again: whatever it syncs is already there, so no event is new.
            result.table[("gmail", "duplicate")] += 1
            continue
        ids = [gmail_ids[call.n]] if call.n in gmail_ids else call.event_ids
        if not ids:
            problems.append(f"{label}: the answer names no event {str(call.answer)[:200]}")
            continue
        for event_id in ids:
            first = by_event[event_id][0]
            if first is not call:
                result.table[(call.kind, "duplicate")] += 1
                continue
            marker = markers_by_event.get(event_id)
            if marker is None and event_id in kept_by_event:
                # Refused by its handler, kept for inspection: accounted for, and said why.
                result.table[(call.kind, "dead-lettered")] += 1
                result.kept.append((label, str(kept_by_event[event_id].get("reason"))))
                continue
            if marker is None:
                problems.append(f"{label}: event {event_id} has no processed-event marker")
                continue
            outcome = marker.get("outcome")
            if outcome not in ("applied", "stale"):
                problems.append(f"{label}: event {event_id} is {outcome}")
                continue
            result.table[(call.kind, str(outcome))] += 1
            logged = outcomes.get(event_id, Counter())
            if logged["applied"] + logged["stale"] > 1:
                problems.append(f"{label}: event {event_id} logged as applied {logged['applied']} times")
            deliveries = sum(logged.values())
            posts = len(by_event[event_id]) if call.kind != "gmail" else 1
            if call.kind != "gmail" and deliveries < posts:
                # A duplicate that was published but never reached the dispatcher: lost.
                problems.append(f"{label}: event {event_id} posted {posts} times, delivered {deliveries}")
            result.redeliveries += max(0, deliveries - posts)
            if call.role == "late" and outcome != "stale":
                problems.append(f"{label}: a late version was {outcome}, not stale")
            if outcome == "stale" and call.role != "late":
                result.unplanned_stale += 1
            if outcome == "applied":
                processed = datetime.fromisoformat(str(marker["processed_at"])).timestamp()
                result.applied_after.append(max(0.0, processed - call.posted_at))
                result.applied_at[call.n] = processed
                result.last_applied = max(result.last_applied, processed)
        result.answer_after.append(call.answered_at - call.posted_at)
    # Every marker of a source the burst fed belongs to a posted event (nothing invented).
    posted = set(by_event)
    for event_id, marker in markers_by_event.items():
        if marker.get("source") in ("deel", "salesforce", "vitally") and event_id not in posted:
            problems.append(f"marker for {event_id} ({marker.get('outcome')}), which nobody posted")
        if (
            marker.get("source") == "gmail"
            and str(event_id).startswith(f"{mailbox}:")
            and event_id not in posted
        ):
            problems.append(f"marker for mail {event_id}, which never arrived")
    result.events = len(posted)
    # The version each entity keeps is the newest posted (a stale event lost to it).
    newest: dict[str, datetime] = {}
    for call in calls:
        if call.role in ("new", "late") and call.entity and call.status == 200:
            version = _version(call)
            if version is not None and (call.entity not in newest or version > newest[call.entity]):
                newest[call.entity] = version
    kept = {str(v.get("entity_key")): v for v in versions.values()}
    for entity, version in newest.items():
        stored = kept.get(entity)
        if stored is None or datetime.fromisoformat(str(stored["source_version"])) != version:
            problems.append(
                f"{entity}: kept version {stored and stored.get('source_version')}, newest {version}"
            )
    # Actions: one outbox document per idempotency key, each published at most once.
    keys = Counter(str(a.get("idempotency_key")) for a in outbox)
    problems += [f"action key {k} decided {n} times" for k, n in keys.items() if n > 1]
    problems += [f"action {a} published {n} times" for a, n in published.items() if n > 1]
    problems += [
        f"action {a.get('id')} {a.get('status')}: {a.get('last_error')}"
        for a in outbox
        if a.get("status") == "failed"
    ]
    result.actions = len(outbox)
    return result


def _version(call: Call) -> datetime | None:
    body = json.loads(call.body)
    if call.kind == "deel":
        return datetime.fromisoformat(body["data"]["resource"]["updated_at"].replace("Z", "+00:00"))
    if call.kind == "salesforce":
        return datetime.fromtimestamp(body["ChangeEventHeader"]["commitTimestamp"] / 1000, UTC)
    if call.kind == "vitally":
        return datetime.fromisoformat(body["match"]["account"]["updatedAt"].replace("Z", "+00:00"))
    return None


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def table_lines(result: Accounting) -> list[str]:
    categories = ("applied", "duplicate", "stale", "dead-lettered")
    kinds = ("deel", "salesforce", "vitally", "gmail", "bad")
    lines = [f"{'':<12}" + "".join(f"{c:>15}" for c in categories) + f"{'total':>10}"]
    for kind in kinds:
        row = [result.count(kind, c) for c in categories]
        if any(row):
            lines.append(f"{kind:<12}" + "".join(f"{n:>15,}" for n in row) + f"{sum(row):>10,}")
    totals = [result.total(c) for c in categories]
    lines.append(f"{'all':<12}" + "".join(f"{n:>15,}" for n in totals) + f"{sum(totals):>10,}")
    return lines


# -- reading the pipeline's store ----------------------------------------------------------


def snapshot(project: str) -> dict[str, dict[str, dict[str, Any]]]:
    """The collections the accounting reads, straight from the Firestore emulator."""
    from google.cloud import firestore

    client = firestore.Client(project=project)
    try:
        return {
            name: {doc.id: doc.to_dict() or {} for doc in client.collection(name).stream()}
            for name in ("processed_events", "entity_versions", "dead_letters", "outbox")
        }
    finally:
        client.close()


def marker_exists(project: str) -> Callable[[Call], bool]:
    """Whether a call's events all have their processed-event marker (for late calls)."""
    from google.cloud import firestore

    from shared.events import doc_key

    client = firestore.Client(project=project)
    sources = {"deel": "deel", "salesforce": "salesforce", "vitally": "vitally"}

    def check(call: Call) -> bool:
        source = sources.get(call.kind)
        if source is None or not call.event_ids:
            return True
        refs = [client.collection("processed_events").document(doc_key(source, e)) for e in call.event_ids]
        return all(snap.exists for snap in client.get_all(refs))

    return check


class ActionsProbe:
    """A streaming pull subscription on ``actions`` created before the burst: how many
    times each action id was published (a redelivery of one publish counts once)."""

    def __init__(self, project: str, name: str) -> None:
        from google.cloud import pubsub_v1

        self.subscriber = pubsub_v1.SubscriberClient()
        self.path = self.subscriber.subscription_path(project, name)
        self.subscriber.create_subscription(name=self.path, topic=f"projects/{project}/topics/actions")
        self.by_message: dict[str, str] = {}
        self.lock = threading.Lock()

        def on_message(message: Any) -> None:
            action_id = str(json.loads(message.data).get("id"))
            with self.lock:
                self.by_message.setdefault(message.message_id, action_id)
            message.ack()

        self.stream = self.subscriber.subscribe(self.path, callback=on_message)

    def published(self) -> Counter[str]:
        with self.lock:
            return Counter(self.by_message.values())

    def close(self) -> None:
        self.stream.cancel()
        with contextlib.suppress(Exception):  # a cancelled stream may end with its cancellation
            self.stream.result(timeout=30)
        self.subscriber.close()


def settle(
    calls: list[Call],
    mailbox: str,
    project: str,
    log_files: Callable[[], list[Path]],
    timeout: float,
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, Counter[str]]]:
    """Wait until every event the burst posted has its marker and every duplicate was seen
    by the dispatcher (or ``timeout``); returns the store's collections and the logged
    outcomes."""
    wanted = expected_events(calls, mailbox)
    deliveries = Counter(
        e for c in calls if c.status == 200 and c.kind not in ("gmail", "gmail-push") for e in c.event_ids
    )
    deadline = time.monotonic() + timeout
    while True:
        state = snapshot(project)
        outcomes = log_outcomes(log_files())
        have = {m.get("event_id") for m in state["processed_events"].values()}
        have |= {d.get("event_id") for d in state["dead_letters"].values()}
        seen_all = all(sum(outcomes.get(e, Counter()).values()) >= n for e, n in deliveries.items())
        if (wanted <= have and seen_all) or time.monotonic() > deadline:
            time.sleep(2)  # let deliveries of the last actions finish their records
            return snapshot(project), log_outcomes(log_files())
        time.sleep(1)
