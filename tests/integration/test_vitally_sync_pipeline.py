"""The vitally-sync job on the deployed path: Cloud Scheduler's tick published to
``cadence-tick`` on the Pub/Sub emulator, pushed to ``on_cadence_tick`` through the
functions framework, each change processed as an event on the Firestore emulator. Vitally's
account listing is mocked at the HTTP layer in its documented shapes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import respx
from functions_framework import create_app

from shared import clients, pubsub
from shared.book import import_book, parse_book
from shared.handlers import HEALTH_CHANGES
from shared.processing import DEAD_LETTERS, PROCESSED
from shared.sources.vitally_sync import STATE_ID, SYNC_STATE
from tests.integration.probe import Probe
from tests.pubsub_events import cloud_event
from tests.vitally_pages import BASE, KEY, UNKNOWN_ID, VitallyAccountsApi, example_pages

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def deployed(emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch, book_data, policy):
    project = f"taops-vsync-{uuid.uuid4().hex[:8]}"
    for name, value in {
        "GOOGLE_CLOUD_PROJECT": project,
        "FIRESTORE_EMULATOR_HOST": emulators["firestore"],
        "PUBSUB_EMULATOR_HOST": emulators["pubsub"],
        "TAOPS_STORE": f"firestore:{project}",
        "TAOPS_DELIVERY": "dry-run",
        "TAOPS_VITALLY_API_KEY": KEY,
        "TAOPS_VITALLY_BASE_URL": BASE,
    }.items():
        monkeypatch.setenv(name, value)
    clients.reset()
    pubsub.reset_clients()
    pubsub.ensure_topics(project, ("cadence-tick", "actions"))
    probe = Probe(project, "cadence-tick")
    import_book(clients.store(), parse_book(book_data), policy)
    yield probe
    probe.close()
    clients.reset()
    pubsub.reset_clients()


def scheduler_tick(probe: Probe, monkeypatch: pytest.MonkeyPatch, at: str) -> None:
    """What Cloud Scheduler and the push subscription do: publish the tick, deliver it."""
    monkeypatch.setenv("TAOPS_CLOCK", at)
    pubsub.publish("cadence-tick", b'{"job": "vitally-sync"}')
    response = probe.sub.pull(subscription=probe.path, max_messages=10, timeout=30)
    [message] = response.received_messages
    probe.sub.acknowledge(subscription=probe.path, ack_ids=[message.ack_id])
    app = create_app("on_cadence_tick", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(message.message.data, "cadence-tick", dict(message.message.attributes))
    assert app.post("/", headers=headers, data=body).status_code == 200


def events_by_type(store: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, doc in store.query(PROCESSED):
        counts[doc["type"]] = counts.get(doc["type"], 0) + 1
    return counts


def test_a_scheduler_tick_keeps_the_book_current_from_vitally(deployed, monkeypatch) -> None:
    store = clients.store()
    later = example_pages()
    for body in later.values():
        for item in body["results"]:
            item["updatedAt"] = "2026-11-22T10:00:00.000Z"
    with respx.mock:
        vitally = VitallyAccountsApi(respx.mock, example_pages())
        scheduler_tick(deployed, monkeypatch, "2026-11-22T09:20:00+00:00")
        assert vitally.asked == [None, "cur-2"]

        acme = store.get("accounts", "acme")
        assert (acme["seats_used"], acme["open_tickets"], acme["health_score"]) == (11800, 0, 3.2)
        assert store.get("accounts", "initech")["versions_behind"] == 3
        assert store.get("accounts", "globex")["seats_licensed"] == 2500
        [(_, change)] = store.query(HEALTH_CHANGES)
        assert (change["account_id"], change["new_category"]) == ("acme", "red")
        assert events_by_type(store) == {"cadence.tick": 1, "health.changed": 1, "account.traits": 2}
        state = store.get(SYNC_STATE, STATE_ID)
        assert state["cursor"] is None
        assert [u["vitally_id"] for u in state["last_pass"]["unknown"]] == [UNKNOWN_ID]

        # An hour later Vitally has touched every account but changed nothing taops reads.
        VitallyAccountsApi(respx.mock, later)
        scheduler_tick(deployed, monkeypatch, "2026-11-22T10:20:00+00:00")
    assert events_by_type(store) == {"cadence.tick": 2, "health.changed": 1, "account.traits": 2}
    assert store.query(DEAD_LETTERS) == []
    ticks = {
        doc["event_id"]: doc["summary"] for _, doc in store.query(PROCESSED) if doc["type"] == "cadence.tick"
    }
    assert ticks == {
        "vitally-sync@2026-11-22T09:20:00Z": {
            "pages": 2,
            "accounts": 4,
            "changed": 2,
            "events": 3,
            "unknown": 1,
        },
        "vitally-sync@2026-11-22T10:20:00Z": {
            "pages": 2,
            "accounts": 4,
            "changed": 0,
            "events": 0,
            "unknown": 1,
        },
    }
