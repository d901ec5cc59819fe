"""The OOO protocol on the emulators: a Deel approval posted to deel_webhook, carried by
Pub/Sub to on_pto_logged, ends with the plan in Firestore and the due actions on the
``actions`` topic; the outbox relay releases deferred ones when they fall due."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import respx
from functions_framework import create_app

from shared import clients, pubsub
from shared.book import import_book, parse_book
from shared.handlers import COVERAGE_PLANS
from shared.processing import OUTBOX
from shared.sources import deel
from tests.integration.probe import Probe
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
KEY = "deel-key"


@pytest.fixture
def pipeline(emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch, book_data, policy):
    project = f"taops-ooo-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulators["firestore"])
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulators["pubsub"])
    monkeypatch.setenv("TAOPS_STORE", f"firestore:{project}")
    monkeypatch.setenv("TAOPS_DEEL_SIGNING_KEY", KEY)
    monkeypatch.setenv("TAOPS_CLOCK", "2026-11-22T12:00:00Z")
    for name, value in {
        "TAOPS_SLACK_BOT_TOKEN": "xoxb-t",
        "TAOPS_SLACK_USER_TOKEN": "xoxp-t",
        "TAOPS_VITALLY_API_KEY": "k",
        "TAOPS_VITALLY_BASE_URL": "https://vitally.test",
        "TAOPS_GMAIL_ACCESS_TOKEN": "ya29.t",
        "TAOPS_GMAIL_API_BASE": "https://gmail.test/gmail/v1",
        "TAOPS_CALENDAR_API_BASE": "https://calendar.test/v3",
    }.items():
        monkeypatch.setenv(name, value)
    clients.reset()
    pubsub.reset_clients()
    pubsub.ensure_topics(project, ("pto-logged", "actions", "cadence-tick"))
    probes = {t: Probe(project, t) for t in ("pto-logged", "actions")}
    import_book(clients.store(), parse_book(book_data), policy)
    yield probes
    for probe in probes.values():
        probe.close()
    clients.reset()
    pubsub.reset_clients()


def approval(
    who: str = "ana@example.com",
    absence: str = "pto-ana-1",
    start: str = "2026-12-14",
    end: str = "2026-12-18",
    updated: str = "2026-11-21T09:00:00Z",
) -> bytes:
    body = json.loads((ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text())
    body["data"]["resource"].update(id=absence, start_date=start, end_date=end, updated_at=updated)
    body["data"]["resource"]["requester"]["work_email"] = who
    return json.dumps(body).encode()


def pull_all(probe: Probe) -> list[dict]:
    messages = []
    while True:
        response = probe.sub.pull(subscription=probe.path, max_messages=100, timeout=10)
        if not response.received_messages:
            return messages
        probe.sub.acknowledge(subscription=probe.path, ack_ids=[m.ack_id for m in response.received_messages])
        messages += [json.loads(m.message.data) for m in response.received_messages]


def test_an_approval_ends_with_the_plan_in_firestore_and_due_actions_on_the_actions_topic(pipeline) -> None:
    body = approval()
    webhook = create_app("deel_webhook", str(ROOT / "main.py"), "http").test_client()
    response = webhook.post("/", data=body, headers={"x-deel-signature": deel.signature(KEY, body)})
    assert response.status_code == 200
    [event_id] = response.get_json()["event_ids"]

    # Pub/Sub carries the event to on_pto_logged, as the push subscription would.
    [received] = pipeline["pto-logged"].drain_until(event_id)
    headers, data = cloud_event(received.to_json(), "pto-logged", received.attributes())
    handler = create_app("on_pto_logged", str(ROOT / "main.py"), "cloudevent").test_client()
    assert handler.post("/", headers=headers, data=data).status_code == 200

    store = clients.store()
    plan = store.get(COVERAGE_PLANS, "pto-ana-1")
    assert plan["status"] == "shared" and {i["cover"] for i in plan["items"]} == {"ben@example.com"}
    outbox = dict(store.query(OUTBOX))
    published = [d for d in outbox.values() if d["status"] == "published"]
    deferred = [d for d in outbox.values() if d["status"] == "pending"]
    assert {d["kind"] for d in deferred} == {"slack.status", "email.send"}  # Slack status, customer notice
    assert all(d["not_before"] for d in deferred)
    on_topic = pull_all(pipeline["actions"])
    assert sorted(m["id"] for m in on_topic) == sorted(d["id"] for d in published)
    assert len(on_topic) == 9

    # The relay publishes nothing early, then releases the deferred ones when due.
    tick = create_app("on_cadence_tick", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, data = cloud_event(b'{"job": "outbox-relay"}', "cadence-tick")
    assert tick.post("/", headers=headers, data=data).status_code == 200
    assert pull_all(pipeline["actions"]) == []
    from shared.outbox import relay

    assert relay(store, datetime(2026, 12, 14, 0, 0, tzinfo=UTC))["published"] == 2
    released = pull_all(pipeline["actions"])
    assert {m["kind"] for m in released} == {"slack.status", "email.send"}

    # deliver_action carries each one out against the mocked vendor APIs, exactly once.
    delivered = deliver_all([*on_topic, *released, *on_topic])  # every message delivered twice
    assert all(d["status"] == "delivered" for d in dict(store.query(OUTBOX)).values())
    # Slack: plan to Ana and Mara, team Alex and Cole, cover Ben, the calendar review to Ana.
    # Mail: Ivy (no Slack id), the customer notice to Acme's champion.
    assert delivered["slack"] == 6
    assert (delivered["vacation"], delivered["task"], delivered["mail"], delivered["status"]) == (1, 1, 2, 1)


def deliver_all(messages: list[dict]) -> dict[str, int]:
    ok = {"ok": True, "channel": "C1", "ts": "1.1"}
    with respx.mock(assert_all_called=False) as mock:
        routes = {
            "slack": mock.post("https://slack.com/api/chat.postMessage").mock(
                return_value=httpx.Response(200, json=ok)
            ),
            "status": mock.post("https://slack.com/api/users.profile.set").mock(
                return_value=httpx.Response(200, json={"ok": True})
            ),
            "task": mock.post("https://vitally.test/resources/tasks").mock(
                return_value=httpx.Response(200, json={"id": "task-1"})
            ),
            "vacation": mock.put(url__regex=r"https://gmail\.test/.*/settings/vacation").mock(
                return_value=httpx.Response(200, json={})
            ),
            "mail": mock.post(url__regex=r"https://gmail\.test/.*/messages/send").mock(
                return_value=httpx.Response(200, json={"id": "m1"})
            ),
            "calendar": mock.get(url__regex=r"https://calendar\.test/.*").mock(
                return_value=httpx.Response(200, json={"items": []})
            ),
        }
        app = create_app("deliver_action", str(ROOT / "main.py"), "cloudevent").test_client()
        for message in messages:
            headers, data = cloud_event(json.dumps(message).encode(), "actions")
            assert app.post("/", headers=headers, data=data).status_code == 200
        return {name: route.call_count for name, route in routes.items()}


def test_a_later_cancellation_withdraws_what_was_pending(pipeline) -> None:
    handler = create_app("on_pto_logged", str(ROOT / "main.py"), "cloudevent").test_client()
    for status, updated in (("APPROVED", "2026-11-21T09:00:00Z"), ("CANCELED", "2026-11-23T09:00:00Z")):
        body = json.loads(approval())
        body["data"]["resource"].update(status=status, updated_at=updated)
        [event] = deel.normalize(body, datetime(2026, 11, 22, tzinfo=UTC))
        headers, data = cloud_event(event.to_json(), "pto-logged", event.attributes())
        assert handler.post("/", headers=headers, data=data).status_code == 200
    store = clients.store()
    assert store.get(COVERAGE_PLANS, "pto-ana-1")["status"] == "withdrawn"
    outbox = dict(store.query(OUTBOX))
    deferred = [d for d in outbox.values() if d["not_before"]]
    assert deferred and all(d["status"] == "cancelled" for d in deferred)
    # the immediate ones had been published, so their recipients are told it is off
    withdrawn = [d for d in outbox.values() if d["idempotency_key"].endswith(":withdrawn")]
    assert {r for d in withdrawn for r in d["recipients"]} >= {"ana@example.com", "ben@example.com"}
    assert any(d["kind"] == "gmail.vacation" and d["enable"] is False for d in outbox.values())


def test_a_cover_who_logs_time_off_is_replaced_and_the_ta_and_both_covers_are_told(pipeline) -> None:
    webhook = create_app("deel_webhook", str(ROOT / "main.py"), "http").test_client()
    handler = create_app("on_pto_logged", str(ROOT / "main.py"), "cloudevent").test_client()
    bodies = [
        approval(),
        approval("ben@example.com", "pto-ben", "2026-12-16", "2026-12-31", "2026-11-22T10:00:00Z"),
    ]
    for body in bodies:  # each through the deployed path: webhook, topic, consumer
        response = webhook.post("/", data=body, headers={"x-deel-signature": deel.signature(KEY, body)})
        assert response.status_code == 200
        [event_id] = response.get_json()["event_ids"]
        [received] = pipeline["pto-logged"].drain_until(event_id)
        headers, data = cloud_event(received.to_json(), "pto-logged", received.attributes())
        assert handler.post("/", headers=headers, data=data).status_code == 200

    store = clients.store()
    plan = store.get(COVERAGE_PLANS, "pto-ana-1")
    # Ana's only named peer is away too: her manager covers, found by the covers query.
    assert {i["cover"] for i in plan["items"]} == {"mara@example.com"}
    assert plan["covers"] == ["mara@example.com"]
    outbox = [d for d in dict(store.query(OUTBOX)).values() if d["absence_id"] == "pto-ana-1"]
    replanned = [d for d in outbox if d["event_id"] != outbox_event(outbox, ":calendar-review:")]
    told = sorted((d["recipients"][0], d["not_before"]) for d in replanned if d["kind"] == "slack.message")
    # Sunday noon: each held for its reader's Monday morning (Berlin, London, New York, LA).
    assert told == [
        ("alex@example.com", "2026-11-23T14:00:00Z"),
        ("ana@example.com", "2026-11-23T08:00:00Z"),  # the TA: the plan and what changed
        ("ben@example.com", "2026-11-23T17:00:00Z"),  # the old cover: no longer has accounts
        ("cole@example.com", "2026-11-23T08:00:00Z"),
        ("mara@example.com", "2026-11-23T09:00:00Z"),  # the manager, as reviewer
        ("mara@example.com", "2026-11-23T09:00:00Z"),  # ... and as the new cover
    ]
    ta = next(d for d in replanned if d["recipients"] == ["ana@example.com"] and d["kind"] == "slack.message")
    assert ta["text"].startswith(
        "What changed: Mara Okafor covers Acme Corp and Globex in place of Ben Cho, who is away "
        "2026-12-16 to 2026-12-31."
    )


def outbox_event(outbox: list[dict], key_part: str) -> str:
    """The event that first decided the action whose key holds ``key_part``."""
    return next(d["event_id"] for d in outbox if key_part in d["idempotency_key"])
