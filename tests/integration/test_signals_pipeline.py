"""Account signals on the deployed path (Vitally and Salesforce webhooks, the health-check
and renewal-process ticks, delivery in dry run, on the emulators): a red that holds puts
Acme in Lighthouse once, a renewal moved inside its window starts the renewal process at
once, and a renewal already inside its window at import starts at the first tick. The same
lines replayed on the embedded store end in the same state and actions."""

from __future__ import annotations

from datetime import UTC, datetime

from shared import clients
from shared.book import parse_book
from shared.processing import OUTBOX, PROCESSED, TIMERS
from shared.replay import replay
from tests.functional.test_health import ping
from tests.functional.test_renewal_process import renewal_moved
from tests.gmail_messages import line
from tests.integration.deployed import outbox_view


def tick(when: str, job: str) -> str:
    return line(datetime.fromisoformat(when).replace(tzinfo=UTC), "tick", {"job": job})


LINES = [
    ping("2026-12-01T10:00:00", "acme", 3.0),
    tick("2026-12-01T12:00:00", "health-check"),
    tick("2026-12-01T12:00:20", "health-check"),  # Cloud Scheduler fired twice
    renewal_moved("2026-12-01T13:00:00", "001GLBX", "2027-02-15", 7),
    tick("2026-12-01T15:00:00", "outbox-relay"),  # Alex's held messages fall due
    tick("2026-12-02T07:00:00", "renewal-process"),
]


def test_signals_on_the_deployed_path_match_the_replay_and_happen_once(deployed, book_data, policy) -> None:
    replayed = replay(LINES, parse_book(book_data), policy)
    deployed.run(LINES)
    live = clients.store().dump()

    reactions = sorted(
        (doc["idempotency_key"], doc["recipients"][0], doc["status"])
        for doc in live[OUTBOX].values()
        if doc.get("cadence") in ("lighthouse", "renewal")
    )
    entered = "lighthouse:acme:2026-12-01T10:00:00Z"
    assert reactions == [
        (f"{entered}:save-plan", "ana@example.com", "delivered"),
        (f"{entered}:told:alex@example.com", "alex@example.com", "delivered"),
        (f"{entered}:told:ana@example.com", "ana@example.com", "delivered"),
        (f"{entered}:told:mara@example.com", "mara@example.com", "delivered"),
        ("renewal-start:acme:2026-12-18", "ana@example.com", "delivered"),
        ("renewal-start:acme:2026-12-18:ae", "alex@example.com", "pending"),  # held: 02:00 in New York
        ("renewal-start:globex:2027-02-15", "ana@example.com", "delivered"),
        ("renewal-start:globex:2027-02-15:ae", "alex@example.com", "delivered"),
    ]
    assert live["accounts"]["acme"]["lighthouse_active"] is True
    assert outbox_view(live[OUTBOX]) == outbox_view(replayed.state[OUTBOX])
    for collection in ("accounts", "health_changes"):
        assert live[collection] == replayed.state[collection], collection
    # Every timer fired or was cancelled (Globex's old date), in both.
    assert live.get(TIMERS, {}) == replayed.state.get(TIMERS, {}) == {}
    outcomes = {marker: doc["outcome"] for marker, doc in live[PROCESSED].items()}
    assert outcomes == {marker: doc["outcome"] for marker, doc in replayed.state[PROCESSED].items()}
    assert "dead_letters" not in live


def test_a_renewal_moving_into_an_absence_re_plans_it_on_the_deployed_path(
    deployed, book_data, policy
) -> None:
    from shared.book import import_book
    from tests.functional.test_replan_signals import BEN_AWAY

    for account in book_data["accounts"]:
        if account["id"] == "initech":
            account["salesforce_id"] = "001INIT"  # Initech (Ben's) known to Salesforce
    book = parse_book(book_data)
    import_book(clients.store(), book, policy)
    lines = [BEN_AWAY, renewal_moved("2026-12-02T10:00:00", "001INIT", "2026-12-16", 5)]
    replayed = replay(lines, book, policy)
    deployed.run(lines)
    live = clients.store().dump()

    items = live["coverage_plans"]["pto-ben"]["items"]
    assert [(i["account_id"], i["reasons"], i["cover"]) for i in items] == [
        ("initech", ["renewing"], "ana@example.com")
    ]
    assert live["coverage_plans"] == replayed.state["coverage_plans"]
    assert outbox_view(live[OUTBOX]) == outbox_view(replayed.state[OUTBOX])
