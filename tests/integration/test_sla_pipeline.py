"""The pooled mailbox's SLA on the deployed path: the real Firestore and Pub/Sub
emulators, every function driven through the functions framework by the messages Pub/Sub
carries (webhook → topic → consumer; Gmail push → on_group_mail; scheduler tick →
on_cadence_tick; actions → deliver_action in dry run). Gmail's API is mocked at the HTTP
layer in its documented shapes.

The same scenario replayed on the embedded store must end in the same state and the same
actions; and a tick racing a team reply must never escalate an answered thread.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from functions_framework import create_app

from shared import clients, pubsub
from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.dev import deel_body
from shared.dispatch import dispatch
from shared.jobs import tick_event
from shared.mailbox import MAILBOXES
from shared.models import utc_text
from shared.processing import OUTBOX, PROCESSED, TIMERS
from shared.replay import replay
from shared.sources import deel
from shared.sources.gmail import normalize_message
from shared.store import Store, Where
from shared.store.firestore import FirestoreStore
from tests.gmail_messages import GROUP, gmail_message, line
from tests.integration.probe import Probe
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
KEY = "deel-key"
GMAIL = "https://gmail.test/gmail/v1"
DEEL = json.loads((ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text())
TOPICS = ("pto-logged", "gmail-push", "cadence-tick", "actions")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def scenario() -> list[str]:
    """Ana (Acme's TA) and Mara (the TA manager) away; Jo writes on Tuesday; nobody answers.
    The ticks are the ones Cloud Scheduler would fire at the moments something is due."""

    def away(who: str, name: str, absence: str, received: str) -> str:
        body = deel_body(
            DEEL, email=who, name=name, start=date(2026, 12, 14), end=date(2026, 12, 18), absence_id=absence
        )
        return line(at(received), "deel", json.loads(body))

    wrote = at("2026-12-15T10:00:00")
    return [
        away("ana@example.com", "Ana Ruiz", "pto-ana", "2026-11-30T09:00:00"),
        away("mara@example.com", "Mara Okafor", "pto-mara", "2026-11-30T09:05:00"),
        line(at("2026-12-09T00:00:00"), "tick", {"job": "outbox-relay"}),
        line(at("2026-12-14T00:00:00"), "tick", {"job": "outbox-relay"}),
        line(
            wrote,
            "gmail",
            gmail_message("m1", "t-acme", "jo@acme.test", "Login broken", wrote, name="Jo Acme"),
        ),
        line(at("2026-12-16T22:00:00"), "tick", {"job": "sla-check"}),
        line(at("2026-12-16T22:00:20"), "tick", {"job": "sla-check"}),  # fired twice
        line(at("2026-12-17T10:00:00"), "tick", {"job": "sla-check"}),
        line(at("2026-12-17T17:00:00"), "tick", {"job": "outbox-relay"}),
        line(at("2026-12-17T22:00:00"), "tick", {"job": "sla-check"}),
        line(at("2026-12-18T10:00:00"), "tick", {"job": "sla-check"}),
        line(at("2026-12-18T15:00:00"), "tick", {"job": "outbox-relay"}),
    ]


@pytest.fixture
def deployed(emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch, book_data, policy):
    project = f"taops-sla-{uuid.uuid4().hex[:8]}"
    for name, value in {
        "GOOGLE_CLOUD_PROJECT": project,
        "FIRESTORE_EMULATOR_HOST": emulators["firestore"],
        "PUBSUB_EMULATOR_HOST": emulators["pubsub"],
        "TAOPS_STORE": f"firestore:{project}",
        "TAOPS_DEEL_SIGNING_KEY": KEY,
        "TAOPS_DELIVERY": "dry-run",
        "TAOPS_GMAIL_ACCESS_TOKEN": "ya29.test",
        "TAOPS_GMAIL_API_BASE": GMAIL,
    }.items():
        monkeypatch.setenv(name, value)
    clients.reset()
    pubsub.reset_clients()
    pubsub.ensure_topics(project, TOPICS)
    probes = {topic: Probe(project, topic) for topic in TOPICS}
    import_book(clients.store(), parse_book(book_data), policy)
    clients.store().put(MAILBOXES, GROUP, {"history_id": 100})
    yield probes
    for probe in probes.values():
        probe.close()
    clients.reset()
    pubsub.reset_clients()


def pull(probe: Probe, expected: int) -> list[tuple[bytes, dict[str, str]]]:
    """The ``expected`` messages published to the probe's topic (they are there already:
    publishing waits for the server's id); an empty pull is only tried when none is."""
    messages: list[tuple[bytes, dict[str, str]]] = []
    for _ in range(20):
        if len(messages) >= expected:
            break
        response = probe.sub.pull(subscription=probe.path, max_messages=100, timeout=10)
        if response.received_messages:
            probe.sub.acknowledge(
                subscription=probe.path, ack_ids=[m.ack_id for m in response.received_messages]
            )
        messages += [(m.message.data, dict(m.message.attributes)) for m in response.received_messages]
    assert len(messages) == expected, f"{probe.path}: {len(messages)} of {expected} messages"
    return messages


class Gmail:
    """The pooled mailbox as Gmail's API shows it: history since a history id, metadata."""

    def __init__(self, mock: respx.MockRouter) -> None:
        self.added: list[tuple[int, dict[str, Any]]] = []
        base = rf"{GMAIL}/users/technicaladvisors(@|%40)example\.com"
        mock.get(url__regex=rf"{base}/history").mock(side_effect=self.history)
        mock.get(url__regex=rf"{base}/messages/(?P<message_id>[^/?]+)").mock(side_effect=self.metadata)

    def add(self, message: dict[str, Any]) -> int:
        self.added.append((101 + len(self.added), message))
        return self.added[-1][0]

    def history(self, request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startHistoryId"])
        records = [
            {"id": str(h), "messagesAdded": [{"message": {"id": m["id"], "threadId": m["threadId"]}}]}
            for h, m in self.added
            if h > start
        ]
        return httpx.Response(200, json={"history": records, "historyId": str(self.added[-1][0])})

    def metadata(self, request: httpx.Request, message_id: str, **_: str) -> httpx.Response:
        found = next((m for _, m in self.added if m["id"] == message_id), None)
        return (
            httpx.Response(200, json=found) if found else httpx.Response(404, json={"error": {"code": 404}})
        )


def run_deployed(lines: list[str], probes: dict[str, Probe], monkeypatch: pytest.MonkeyPatch) -> None:
    apps = {
        name: create_app(name, str(ROOT / "main.py"), "cloudevent").test_client()
        for name in ("on_pto_logged", "on_group_mail", "on_cadence_tick", "deliver_action")
    }
    webhook = create_app("deel_webhook", str(ROOT / "main.py"), "http").test_client()
    consumer = {
        "pto-logged": "on_pto_logged",
        "gmail-push": "on_group_mail",
        "cadence-tick": "on_cadence_tick",
    }

    def carry(topic: str, expected: int = 1) -> None:
        """What a push subscription does: each message to its function; 200 is an ack."""
        for data, attributes in pull(probes[topic], expected):
            headers, body = cloud_event(data, topic, attributes)
            assert (
                apps[consumer.get(topic, "deliver_action")].post("/", headers=headers, data=body).status_code
                == 200
            )

    with respx.mock(assert_all_called=False) as mock:
        mailbox = Gmail(mock)
        for text in lines:
            entry = json.loads(text)
            monkeypatch.setenv("TAOPS_CLOCK", entry["at"])
            if entry["source"] == "deel":
                raw = json.dumps(entry["payload"]).encode()
                response = webhook.post("/", data=raw, headers={"x-deel-signature": deel.signature(KEY, raw)})
                assert response.status_code == 200, response.get_data(as_text=True)
                carry("pto-logged")
            elif entry["source"] == "gmail":
                history = mailbox.add(entry["payload"])
                notification = json.dumps({"emailAddress": GROUP, "historyId": str(history)}).encode()
                pubsub.publish("gmail-push", notification)
                carry("gmail-push")
            else:
                pubsub.publish("cadence-tick", json.dumps(entry["payload"]).encode())
                carry("cadence-tick")
            published = clients.store().query(OUTBOX, Where("status", "==", "published"))
            carry("actions", len(published))


def outbox_view(docs: dict[str, dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    fields = (
        "kind",
        "recipients",
        "not_before",
        "status",
        "idempotency_key",
        "reason",
        "sla_level",
        "thread_id",
    )
    return {
        action_id: tuple(json.dumps(doc.get(f), sort_keys=True) for f in fields)
        for action_id, doc in docs.items()
    }


def test_the_deployed_path_ends_in_the_same_state_and_actions_as_the_replay(
    deployed, monkeypatch, book_data, policy
) -> None:
    lines = scenario()
    replayed = replay(lines, parse_book(book_data), policy)
    run_deployed(lines, deployed, monkeypatch)
    live = clients.store().dump()

    ladder = sorted(
        (doc["sla_level"], doc["recipients"][0], doc["status"])
        for doc in live[OUTBOX].values()
        if doc.get("cadence") == "sla"
    )
    assert ladder == [
        (0, "ben@example.com", "delivered"),
        (1, "ben@example.com", "delivered"),
        (2, "dana@example.com", "delivered"),
        (3, "dana@example.com", "delivered"),
    ]
    assert outbox_view(live[OUTBOX]) == outbox_view(replayed.state[OUTBOX])
    for collection in ("mail_threads", "coverage_plans", "absences", "accounts"):
        assert live[collection] == replayed.state[collection], collection
    assert live.get(TIMERS, {}) == replayed.state.get(TIMERS, {}) == {}
    outcomes = {marker: doc["outcome"] for marker, doc in live[PROCESSED].items()}
    assert outcomes == {marker: doc["outcome"] for marker, doc in replayed.state[PROCESSED].items()}
    assert "dead_letters" not in live


# -- a tick racing a team reply ------------------------------------------------------------

WROTE = at("2026-12-15T10:00:00")
DUE = at("2026-12-16T22:00:00")  # the reminder, 36 working hours later in Berlin
REPLIED = at("2026-12-16T21:30:00")  # the team answered just before it


def _message(message_id: str, thread: str, sender: str, when: datetime, policy) -> Any:
    resource = gmail_message(message_id, thread, sender, "Login broken", when)
    return normalize_message(resource, GROUP, DUE, policy.group_mail.company_domains)


def test_a_tick_arriving_while_a_team_reply_is_processed_never_escalates_the_answered_thread(
    emulators, monkeypatch, book_data, policy
) -> None:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulators["firestore"])
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", f"taops-race-{uuid.uuid4().hex[:8]}")
    setup = FirestoreStore()
    import_book(setup, parse_book(book_data), policy)
    threads = [f"t{n}" for n in range(8)]
    ctx = Context(store=setup, policy=policy)
    for n, thread in enumerate(threads):
        dispatch(ctx, _message(f"c{n}", thread, "jo@acme.test", WROTE, policy), WROTE)
    assert len(setup.query(TIMERS)) == len(threads)

    # Each function instance has its own client; they meet only in Firestore.
    ticker, replier = FirestoreStore(), FirestoreStore()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def tick() -> None:
        start.wait()
        try:
            dispatch(Context(store=ticker, policy=policy), tick_event("sla-check", DUE, DUE, policy), DUE)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def reply() -> None:
        start.wait()
        try:
            for n, thread in enumerate(threads):
                dispatch(
                    Context(store=replier, policy=policy),
                    _message(f"r{n}", thread, "ben@example.com", REPLIED, policy),
                    DUE,
                )
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=tick), threading.Thread(target=reply)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert not errors, errors

    state: Store = setup
    for thread in threads:
        doc = state.get("mail_threads", f"{GROUP}:{thread}")
        assert doc["waiting"] is False and doc["sla_timer"] is None
        live = [
            a for _, a in state.query(OUTBOX, Where("thread_id", "==", thread)) if a["status"] != "cancelled"
        ]
        assert live == [], f"{thread}: an answered thread was escalated: {live}"
    assert state.query(TIMERS) == []
    # Whichever came first, the tick itself ran once.
    assert state.get(PROCESSED, f"tick:sla-check@{utc_text(DUE)}")["outcome"] == "applied"
    for store in (ticker, replier, setup):
        store.close()
