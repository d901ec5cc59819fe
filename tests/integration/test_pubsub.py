"""Publishing through the real client to the Pub/Sub emulator, read back on a subscription."""

from __future__ import annotations

import pytest

from shared import pubsub
from shared.events import EventEnvelope
from shared.exceptions import TransientError
from tests.scenarios import NOW


@pytest.fixture
def topics(pubsub_env: str) -> str:
    pubsub.reset_clients()
    pubsub.ensure_topics(pubsub_env)
    yield pubsub_env
    pubsub.reset_clients()


def _pull_one(project: str, topic: str) -> tuple[bytes, dict[str, str]]:
    from google.cloud import pubsub_v1

    sub = pubsub_v1.SubscriberClient()
    path = sub.subscription_path(project, f"{topic}-probe")
    sub.create_subscription(name=path, topic=pubsub.topic_path(topic, project))
    return sub, path


def test_every_topic_has_its_dead_letter_topic(topics: str) -> None:
    names = {t.name.rsplit("/", 1)[1] for t in pubsub.publisher().list_topics(project=f"projects/{topics}")}
    for topic in pubsub.TOPICS:
        assert {topic, f"{topic}-dead-letter"} <= names


def test_an_envelope_published_is_read_back_with_its_attributes(topics: str) -> None:
    sub, path = _pull_one(topics, "pto-logged")
    event = EventEnvelope(
        source="deel",
        type="pto.logged",
        event_id="evt-1",
        entity_key="absence:77",
        occurred_at=NOW,
        received_at=NOW,
        payload={"status": "APPROVED"},
    )
    pubsub.publish("pto-logged", event.to_json(), event.attributes())
    response = sub.pull(subscription=path, max_messages=5, timeout=30)
    [received] = response.received_messages
    assert EventEnvelope.from_json(received.message.data) == event
    assert received.message.attributes["event_id"] == "evt-1"
    assert received.message.attributes["source"] == "deel"
    sub.close()


def test_publishing_to_a_missing_topic_is_a_transient_error(topics: str) -> None:
    with pytest.raises(TransientError, match="no-such-topic"):
        pubsub.publish("no-such-topic", b"{}")
