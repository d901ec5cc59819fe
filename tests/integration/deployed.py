"""The deployed path, driven line by line from a replay file: the real Firestore and
Pub/Sub emulators, every function through the functions framework, fed the messages
Pub/Sub carries (webhook → topic → consumer; Gmail push → on_group_mail; scheduler tick →
on_cadence_tick; actions → deliver_action in dry run). Gmail's API is mocked at the HTTP
layer in its documented shapes.

``Deployed.run(lines)`` takes the same lines ``taops replay`` does, so a test can compare
the two ends exactly.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from functions_framework import create_app

from shared import clients, pubsub
from shared.book import import_book, parse_book
from shared.mailbox import MAILBOXES
from shared.processing import OUTBOX
from shared.sources import deel
from shared.store import Where
from tests.gmail_messages import GROUP
from tests.integration.probe import Probe
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
DEEL_KEY = "deel-key"
TOKEN = "webhook-token"
ORG_HEADER = "x-salesforce-org-id"
ORG = "00D5e000000KQ2eEAG"  # the Salesforce org the relay forwards CDC events from
GMAIL = "https://gmail.test/gmail/v1"
TOPICS = ("pto-logged", "renewal-changed", "health-changed", "gmail-push", "cadence-tick", "actions")
CONSUMERS = {
    "pto-logged": "on_pto_logged",
    "renewal-changed": "on_renewal_changed",
    "health-changed": "on_health_changed",
    "gmail-push": "on_group_mail",
    "cadence-tick": "on_cadence_tick",
    "actions": "deliver_action",
}
WEBHOOKS = {
    "deel": ("deel_webhook", "pto-logged"),
    "salesforce": ("salesforce_webhook", "renewal-changed"),
    "vitally": ("vitally_webhook", "health-changed"),
}


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


class Deployed:
    def __init__(self, probes: dict[str, Probe], monkeypatch: pytest.MonkeyPatch) -> None:
        self.probes = probes
        self.monkeypatch = monkeypatch
        self.apps = {
            name: create_app(name, str(ROOT / "main.py"), "cloudevent").test_client()
            for name in CONSUMERS.values()
        }
        self.webhooks = {
            source: create_app(target, str(ROOT / "main.py"), "http").test_client()
            for source, (target, _) in WEBHOOKS.items()
        }

    def carry(self, topic: str, expected: int = 1) -> None:
        """What a push subscription does: each message to its function; 200 is an ack."""
        for data, attributes in pull(self.probes[topic], expected):
            headers, body = cloud_event(data, topic, attributes)
            response = self.apps[CONSUMERS[topic]].post("/", headers=headers, data=body)
            assert response.status_code == 200, response.get_data(as_text=True)

    def _post(self, source: str, payload: Any) -> None:
        raw = json.dumps(payload).encode()
        headers = {"content-type": "application/json", "x-taops-token": TOKEN, ORG_HEADER: ORG}
        if source == "deel":
            headers = {"x-deel-signature": deel.signature(DEEL_KEY, raw)}
        response = self.webhooks[source].post("/", data=raw, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        # A body may stand for several events (a Vitally ping with seat counts is two).
        answer = response.get_json(silent=True) or {}
        self.carry(WEBHOOKS[source][1], int(answer.get("published", 1)))

    def run(self, lines: list[str]) -> None:
        with respx.mock(assert_all_called=False) as mock:
            mailbox = Gmail(mock)
            for text in lines:
                entry = json.loads(text)
                self.monkeypatch.setenv("TAOPS_CLOCK", entry["at"])
                if entry["source"] in WEBHOOKS:
                    self._post(entry["source"], entry["payload"])
                elif entry["source"] == "gmail":
                    history = mailbox.add(entry["payload"])
                    notification = json.dumps({"emailAddress": GROUP, "historyId": str(history)}).encode()
                    pubsub.publish("gmail-push", notification)
                    self.carry("gmail-push")
                else:
                    pubsub.publish("cadence-tick", json.dumps(entry["payload"]).encode())
                    self.carry("cadence-tick")
                published = clients.store().query(OUTBOX, Where("status", "==", "published"))
                self.carry("actions", len(published))


def deploy(
    emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch, book_data: Any, policy: Any
) -> Iterator[Deployed]:
    """A fresh project on the emulators with the book imported; every topic probed."""
    project = f"taops-e2e-{uuid.uuid4().hex[:8]}"
    for name, value in {
        "GOOGLE_CLOUD_PROJECT": project,
        "FIRESTORE_EMULATOR_HOST": emulators["firestore"],
        "PUBSUB_EMULATOR_HOST": emulators["pubsub"],
        "TAOPS_STORE": f"firestore:{project}",
        "TAOPS_DEEL_SIGNING_KEY": DEEL_KEY,
        "TAOPS_VITALLY_TOKEN": TOKEN,
        "TAOPS_SALESFORCE_TOKEN": TOKEN,
        "TAOPS_SALESFORCE_ORG_IDS": ORG,
        "TAOPS_DELIVERY": "dry-run",
        "TAOPS_GMAIL_ACCESS_TOKEN": "ya29.test",
        "TAOPS_GMAIL_API_BASE": GMAIL,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TAOPS_VITALLY_API_KEY", raising=False)  # the webhook's score is used as sent
    clients.reset()
    pubsub.reset_clients()
    pubsub.ensure_topics(project, TOPICS)
    probes = {topic: Probe(project, topic) for topic in TOPICS}
    import_book(clients.store(), parse_book(book_data), policy)
    clients.store().put(MAILBOXES, GROUP, {"history_id": 100})
    yield Deployed(probes, monkeypatch)
    for probe in probes.values():
        probe.close()
    clients.reset()
    pubsub.reset_clients()


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
        "cadence",
        "period",
    )
    return {
        action_id: tuple(json.dumps(doc.get(f), sort_keys=True) for f in fields)
        for action_id, doc in docs.items()
    }
