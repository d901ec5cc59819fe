"""An Outbound Message of 5,000 notifications, through the real functions framework onto
the Pub/Sub emulator: every notification published exactly once before the SOAP Ack, and
one over the policy's limit refused whole, with nothing published and the body kept.
(How long the 5,000 take is measured by ``bench/salesforce_fanout.py``, not here.)"""

from __future__ import annotations

import pytest

from shared import clients
from shared.events import EventEnvelope
from shared.policy import load_policy
from shared.processing import DEAD_LETTERS
from tests.salesforce_messages import ORG, notification_id, outbound_message

TOKEN = "sf-shared-secret"
XML = {"content-type": "text/xml; charset=utf-8"}
COUNT = 5000


@pytest.fixture
def env(webhook):
    env = {"TAOPS_SALESFORCE_TOKEN": TOKEN, "TAOPS_SALESFORCE_ORG_IDS": ORG}
    return webhook("salesforce_webhook", "renewal-changed", env)


def _pull_until(probe, wanted: set[str], rounds: int = 200) -> list[str]:
    """Event ids pulled (duplicates kept) until every id of ``wanted`` has arrived."""
    seen: list[str] = []
    for _ in range(rounds):
        response = probe.sub.pull(subscription=probe.path, max_messages=1000, timeout=30)
        acks = [m.ack_id for m in response.received_messages]
        if acks:
            probe.sub.acknowledge(subscription=probe.path, ack_ids=acks)
        seen += [EventEnvelope.from_json(m.message.data).event_id for m in response.received_messages]
        if wanted <= set(seen):
            return seen
    raise AssertionError(f"{len(wanted - set(seen))} of {len(wanted)} never arrived")


def test_5000_notifications_are_each_published_once_then_acked(env) -> None:
    assert load_policy().renewal.max_records_per_message >= COUNT
    client, probe = env
    body = outbound_message(COUNT)
    response = client.post(f"/?token={TOKEN}", data=body, headers=XML)
    assert response.status_code == 200
    assert "<Ack>true</Ack>" in response.get_data(as_text=True)
    # A one-notification message after it, so the pulling has an end it can recognise.
    sentinel = notification_id(COUNT)
    assert client.post(f"/?token={TOKEN}", data=outbound_message(1, COUNT), headers=XML).status_code == 200
    expected = {notification_id(n) for n in range(COUNT + 1)}
    seen = _pull_until(probe, expected)
    assert sorted(seen) == sorted(expected), "each notification exactly once"
    assert sentinel in seen


def test_a_message_over_the_limit_is_refused_whole_and_kept(env) -> None:
    client, probe = env
    over = load_policy().renewal.max_records_per_message + 1
    body = outbound_message(over)
    assert len(body) < 1024 * 1024, "under the body limit: the notification limit refuses it"
    response = client.post(f"/?token={TOKEN}", data=body, headers=XML)
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        f"Outbound Message: {over} notifications, over the limit of {over - 1}"
        " (policy renewal.max_records_per_message)"
    )
    [(_, kept)] = clients.store().query(DEAD_LETTERS)
    assert kept["source"] == "salesforce" and "over the limit" in kept["reason"]
    # Nothing of it was published: the next good message is the first thing on the topic.
    sentinel = notification_id(10**6)
    client.post(f"/?token={TOKEN}", data=outbound_message(1, 10**6), headers=XML)
    assert _pull_until(probe, {sentinel}) == [sentinel]
