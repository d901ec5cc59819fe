"""Eight events about one account, handled at once by eight function instances on the
Firestore emulator: every one applies, once, and the state and the actions are the ones a
one-at-a-time run on the embedded store gives. Redelivered at once, all eight are
duplicates and change nothing.

Before queries in a transaction stopped locking (each locked its whole collection on the
emulator until the commit), handlers that searched accounts, absences or the outbox and
wrote there deadlocked on each other and waited out two-second lock timeouts: such a run
applied a few events in minutes. How long it takes now is a figure of
``bench/one_account.py``, not of this test.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.dispatch import dispatch
from shared.events import EventEnvelope
from shared.policy import Policy
from shared.processing import OUTBOX, PROCESSED, Outcome
from shared.quiet import SOURCE_HEARD as HEARD
from shared.replay import normalize_line, parse_line
from shared.store import EmbeddedStore, Store
from shared.store.firestore import FirestoreStore

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "examples" / "book.json"
# When the eight are handled: after every one of them happened.
NOW = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
INSTANCES = 8


def one_account_lines() -> list[str]:
    """Eight events that all touch Acme (its health, its TA's time off, its champion's
    mail), each about an entity of its own, so no order of them is stale."""
    from tests.functional.test_health import ping, time_off
    from tests.gmail_messages import gmail_message, line

    def mail(n: int, subject: str) -> str:
        at = datetime(2026, 12, 1, 9, 10 + n, tzinfo=UTC)
        return line(at, "gmail", gmail_message(f"acme-m{n}", f"acme-t{n}", "jo@acme.test", subject, at))

    return [
        ping("2026-12-01T09:00:00", "acme", 3.0),
        time_off(
            "ana@example.com",
            "Ana Ruiz",
            date(2026, 12, 14),
            date(2026, 12, 16),
            "pto-acme-1",
            "2026-12-01T09:01:00",
        ),
        time_off(
            "ana@example.com",
            "Ana Ruiz",
            date(2027, 2, 8),
            date(2027, 2, 10),
            "pto-acme-2",
            "2026-12-01T09:02:00",
        ),
        mail(1, "SSO stopped working"),
        mail(2, "Seats for the new team"),
        mail(3, "Invoice question"),
        mail(4, "Upgrade path to 7.2"),
        mail(5, "Training for new hires"),
    ]


def one_account_events(policy: Policy) -> list[EventEnvelope]:
    events = [
        e
        for n, text in enumerate(one_account_lines(), 1)
        for e in normalize_line(parse_line(n, text, None), policy)
    ]
    assert len(events) == INSTANCES
    return events


def load_book(store: Store, policy: Policy) -> None:
    import_book(store, parse_book(json.loads(BOOK.read_text())), policy, now=NOW - timedelta(days=1))


def run_at_once(stores: list[Store], events: list[EventEnvelope], policy: Policy) -> list[Any]:
    """Each event on its own instance, all at the same time."""
    with ThreadPoolExecutor(len(events)) as pool:
        return list(
            pool.map(
                lambda pair: dispatch(Context(store=pair[0], policy=policy), pair[1], NOW),
                zip(stores, events, strict=True),
            )
        )


def test_eight_events_on_one_account_at_once_all_apply_once(
    firestore_env: str, policy: Policy, monkeypatch
) -> None:
    monkeypatch.setenv("TAOPS_PUBLISH_ACTIONS", "0")
    events = one_account_events(policy)
    stores: list[Store] = [FirestoreStore(project=firestore_env) for _ in range(INSTANCES)]
    load_book(stores[0], policy)
    # The health ping may be applied before, between or after the others: a handler
    # reads the accounts it searched as committed (locking nothing), so a plan drawn while
    # Acme turns red may show it green, as when the plan came first. The result must be
    # one of those one-at-a-time orders, each on the embedded store.
    ping, others = events[0], events[1:]
    orders = [[*others[:at], ping, *others[at:]] for at in range(len(events))]
    references = []
    for order in orders:
        reference = EmbeddedStore()
        load_book(reference, policy)
        ctx = Context(store=reference, policy=policy)
        assert [dispatch(ctx, event, NOW).outcome for event in order] == [Outcome.APPLIED] * INSTANCES
        references.append(reference.dump())

    results = run_at_once(stores, events, policy)

    assert [r.outcome for r in results] == [Outcome.APPLIED] * INSTANCES, [r.reason for r in results]
    live = stores[0].dump()
    markers = {doc["event_id"]: doc["outcome"] for doc in live[PROCESSED].values()}
    assert markers == {e.event_id: "applied" for e in events}
    keys = [doc["idempotency_key"] for doc in live[OUTBOX].values()]
    assert len(keys) == len(set(keys))  # nothing doubled
    # The same state and actions as one at a time; which event a source was last heard
    # from is whichever came last, so only that record may name another event.
    heard = live.pop(HEARD)
    for expected in references:
        assert expected.pop(HEARD).keys() == heard.keys()
    assert any(live == expected for expected in references)

    again = run_at_once(list(reversed(stores)), events, policy)
    assert [r.outcome for r in again] == [Outcome.DUPLICATE] * INSTANCES
    after = stores[1].dump()
    after.pop(HEARD)
    assert after == live
    for store in stores:
        store.close()
