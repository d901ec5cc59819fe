"""Reading back what was published, through a real subscription on the Pub/Sub emulator."""

from __future__ import annotations

from shared import pubsub
from shared.events import EventEnvelope


class Probe:
    """A subscription on ``topic`` created before anything is posted."""

    def __init__(self, project: str, topic: str) -> None:
        from google.cloud import pubsub_v1

        self.sub = pubsub_v1.SubscriberClient()
        self.path = self.sub.subscription_path(project, f"{topic}-probe")
        self.sub.create_subscription(name=self.path, topic=pubsub.topic_path(topic, project))

    def drain_until(self, event_id: str, limit: int = 20) -> list[EventEnvelope]:
        """Every message up to and including ``event_id`` (a sentinel posted last)."""
        seen: list[EventEnvelope] = []
        for _ in range(limit):
            response = self.sub.pull(subscription=self.path, max_messages=100, timeout=30)
            acks = [m.ack_id for m in response.received_messages]
            if acks:
                self.sub.acknowledge(subscription=self.path, ack_ids=acks)
            seen += [EventEnvelope.from_json(m.message.data) for m in response.received_messages]
            if any(e.event_id == event_id for e in seen):
                return seen
        raise AssertionError(f"{event_id} never arrived; got {[e.event_id for e in seen]}")

    def close(self) -> None:
        self.sub.close()
