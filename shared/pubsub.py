"""Publishing internal events and actions to Pub/Sub (honours ``PUBSUB_EMULATOR_HOST``).

The publisher client is built on first use and cached. A failed or timed-out publish is a
``TransientError``: the caller answers 5xx (a webhook) or raises (a handler) so the
delivery is retried and nothing is lost.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from shared.exceptions import TransientError

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

# Design §3: the public topic names. Each has a dead-letter topic named "<topic>-dead-letter".
TOPICS = ("pto-logged", "renewal-changed", "health-changed", "gmail-push", "cadence-tick", "actions")
PUBLISH_TIMEOUT_S = 30.0

_lock = threading.Lock()
_publisher: PublisherClient | None = None


def dead_letter_topic(topic: str) -> str:
    return f"{topic}-dead-letter"


def project_id() -> str:
    return os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCP_PROJECT") or "taops-local"


def publisher() -> PublisherClient:
    global _publisher
    if _publisher is None:
        with _lock:
            if _publisher is None:
                from google.cloud.pubsub_v1 import PublisherClient

                _publisher = PublisherClient()
    return _publisher


def reset_clients() -> None:
    """Forget cached clients (tests that switch emulators or projects)."""
    global _publisher
    with _lock:
        _publisher = None


def topic_path(topic: str, project: str | None = None) -> str:
    return f"projects/{project or project_id()}/topics/{topic}"


def publish(topic: str, data: bytes, attributes: dict[str, str] | None = None) -> str:
    """Publish one message and wait for the server's id; ``TransientError`` if it fails."""
    try:
        future = publisher().publish(topic_path(topic), data, **(attributes or {}))
        return str(future.result(timeout=PUBLISH_TIMEOUT_S))
    except Exception as exc:
        raise TransientError(f"publish to {topic} failed: {exc}") from exc


def ensure_topics(project: str | None = None, topics: tuple[str, ...] = TOPICS) -> list[str]:
    """Create each topic and its dead-letter topic if missing (local runs and tests)."""
    from google.api_core.exceptions import AlreadyExists

    created = []
    for name in topics:
        for topic in (name, dead_letter_topic(name)):
            path = topic_path(topic, project)
            try:
                publisher().create_topic(name=path)
                created.append(path)
            except AlreadyExists:
                pass
    return created
