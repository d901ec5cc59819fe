"""A workload for the exactly-once core, shared by the embedded and Firestore tiers.

Two kinds of events touch a handful of accounts:

- ``tally`` events each add an amount to their account (read-modify-write on one shared
  document, so lost updates would show) and emit one action;
- ``score`` events set the account's score, versioned by the source: an older version
  arriving late must be ignored as stale.

Both kinds end in the same state whatever the order the events are applied in, so a
concurrent run can be compared with a sequential one exactly.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from shared.events import EventEnvelope
from shared.exceptions import TransientError
from shared.models import Action
from shared.processing import Decision, ProcessResult, Put, ReadView, process
from shared.store import Store

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ACCOUNTS = ["acme", "globex", "initech", "umbrella"]


def tally_handler(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
    account_id = event.payload["account"]
    doc = view.get("accounts", account_id) or {"tally": 0, "events": 0, "score": None, "score_version": None}
    if event.type == "tally":
        doc = {**doc, "tally": doc["tally"] + event.payload["amount"], "events": doc["events"] + 1}
        action = Action(
            kind="slack.message",
            at=now,
            recipients=["ana@example.com"],
            account_id=account_id,
            reason=f"tally of {event.payload['amount']} on {account_id}",
            idempotency_key=f"tally:{event.event_id}",
        )
        return Decision([Put("accounts", account_id, doc)], [action])
    assert event.source_version is not None
    doc = {**doc, "score": event.payload["score"], "score_version": event.source_version.isoformat()}
    return Decision([Put("accounts", account_id, doc)])


def make_events(seed: int = 7, count: int = 200) -> list[EventEnvelope]:
    """``count`` deliveries: unique events plus redeliveries of some, interleaved."""
    rng = random.Random(seed)
    unique: list[EventEnvelope] = []
    for n in range(int(count * 0.8)):
        account = rng.choice(ACCOUNTS)
        if rng.random() < 0.6:
            unique.append(
                EventEnvelope(
                    source="taops",
                    type="tally",
                    event_id=f"t{n}",
                    entity_key=f"tally:{n}",
                    occurred_at=NOW,
                    received_at=NOW,
                    payload={"account": account, "amount": rng.randint(1, 9)},
                )
            )
        else:
            version = NOW - timedelta(minutes=rng.randint(0, 10_000))
            unique.append(
                EventEnvelope(
                    source="taops",
                    type="score",
                    event_id=f"s{n}",
                    entity_key=f"score:{account}",
                    source_version=version,
                    occurred_at=version,
                    received_at=NOW,
                    payload={"account": account, "score": round(rng.uniform(0, 10), 2)},
                )
            )
    deliveries = unique + [rng.choice(unique) for _ in range(count - len(unique))]
    rng.shuffle(deliveries)
    return deliveries


def deliver(store: Store, event: EventEnvelope, attempts: int = 50) -> ProcessResult:
    """Process like Pub/Sub would: a transient failure is redelivered after a pause."""
    for attempt in range(attempts):
        try:
            return process(store, event, tally_handler, NOW)
        except TransientError:
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError(f"{event.event_id} never got through")


def run_sequential(store: Store, events: list[EventEnvelope]) -> list[ProcessResult]:
    return [deliver(store, e) for e in events]


def run_concurrent(stores: list[Store], events: list[EventEnvelope], threads: int = 8) -> list[ProcessResult]:
    """Deliver from ``threads`` threads, spreading the deliveries over the store handles."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda pair: deliver(stores[pair[0] % len(stores)], pair[1]), enumerate(events)))


def expected_state(events: list[EventEnvelope]) -> dict[str, dict]:
    """The order-independent result, computed without any store."""
    unique = {e.event_id: e for e in events}
    state: dict[str, dict] = {}
    for e in unique.values():
        doc = state.setdefault(
            e.payload["account"], {"tally": 0, "events": 0, "score": None, "score_version": None}
        )
        if e.type == "tally":
            doc["tally"] += e.payload["amount"]
            doc["events"] += 1
        elif doc["score_version"] is None or e.source_version.isoformat() > doc["score_version"]:
            doc["score"], doc["score_version"] = e.payload["score"], e.source_version.isoformat()
    return state
