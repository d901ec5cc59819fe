"""Pub/Sub deliveries as the functions framework receives them."""

from __future__ import annotations

import base64

from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent


def cloud_event(data: bytes, topic: str, attributes: dict[str, str] | None = None) -> tuple[dict, bytes]:
    """Headers and body of a structured CloudEvent carrying one Pub/Sub message."""
    ce_attributes = {
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": f"//pubsub.googleapis.com/projects/taops-local/topics/{topic}",
    }
    message = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": "1",
            "attributes": attributes or {},
        },
        "subscription": f"projects/taops-local/subscriptions/{topic}",
    }
    return to_structured(CloudEvent(ce_attributes, message))
