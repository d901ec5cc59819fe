"""Seat alerts on the deployed path (the Vitally webhook → health-changed → on_health_changed,
the seat-check tick → on_cadence_tick, delivery in dry run, on the emulators): Umbra Labs
told at once at 90% and at 100% by the playbook pings that carry its seats, Vireo (imported
at 95%) told by the daily tick, a tick fired twice telling nobody twice. The same lines
replayed on the embedded store end in the same accounts, actions and markers."""

from __future__ import annotations

import copy

from shared import clients
from shared.book import import_book, parse_book
from shared.processing import OUTBOX, PROCESSED
from shared.replay import replay
from tests.functional.test_seats import ALEX, ANA, TERM, UMBRA, seats, tick
from tests.integration.deployed import outbox_view

VIREO = {
    **UMBRA,
    "id": "vireo",
    "name": "Vireo",
    "salesforce_id": "001VIR",
    "vitally_id": "vit-vireo",
    "seats_licensed": 500,
    "seats_used": 475,
}

LINES = [
    seats("2026-11-02T15:00:00", 850),
    seats("2026-11-03T15:00:00", 920),  # 92%: the 90% alert, at once
    seats("2026-11-04T15:00:00", 880),
    seats("2026-11-05T15:00:00", 1000),  # 100%: the 100% alert, at once
    tick("2026-11-06T07:00:00"),  # Vireo, imported at 95%: the job tells its AE
    tick("2026-11-06T07:00:30"),  # Cloud Scheduler fired twice
    tick("2026-11-06T08:00:00", "outbox-relay"),  # 09:00 in Berlin: Ana's copy falls due
]


def test_seat_alerts_on_the_deployed_path_match_the_replay_and_happen_once(
    deployed, book_data, policy
) -> None:
    data = copy.deepcopy(book_data)
    data["accounts"] += [dict(UMBRA), dict(VIREO)]
    book = parse_book(data)
    import_book(clients.store(), book, policy)
    replayed = replay(LINES, book, policy)
    deployed.run(LINES)
    live = clients.store().dump()

    alerts = sorted(
        (doc["idempotency_key"], doc["recipients"][0], doc["status"])
        for doc in live[OUTBOX].values()
        if doc.get("cadence") == "seats"
    )
    assert alerts == [
        (f"seats100:umbra:{TERM}", ALEX, "delivered"),
        (f"seats100:umbra:{TERM}:ta", ANA, "delivered"),
        (f"seats90:umbra:{TERM}", ALEX, "delivered"),
        (f"seats90:umbra:{TERM}:ta", ANA, "delivered"),
        (f"seats90:vireo:{TERM}", ALEX, "pending"),  # 02:00 in New York: held until 09:00
        (f"seats90:vireo:{TERM}:ta", ANA, "delivered"),  # held until 09:00 in Berlin
    ]
    umbra = live["accounts"]["umbra"]
    assert [h["used"] for h in umbra["seats_history"]] == [800, 850, 920, 880, 1000]
    assert umbra["seat_alerts"]["percents"] == [90, 100]
    assert live["accounts"]["vireo"]["seat_check_at"] == "2027-02-01T00:00:00Z"
    assert outbox_view(live[OUTBOX]) == outbox_view(replayed.state[OUTBOX])
    assert live["accounts"] == replayed.state["accounts"]
    outcomes = {marker: doc["outcome"] for marker, doc in live[PROCESSED].items()}
    assert outcomes == {marker: doc["outcome"] for marker, doc in replayed.state[PROCESSED].items()}
    # One tick ran (the second found its slot done), and it decided one alert.
    assert sorted(m for m in outcomes if m.startswith(("tick:seat-check", "taops:"))) == [
        f"taops:seats90:vireo:{TERM}",
        "tick:seat-check@2026-11-06T07:00:00Z",
    ]
    assert "dead_letters" not in live
