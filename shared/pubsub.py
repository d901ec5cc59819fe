"""Publishing internal events and actions to Pub/Sub (honours ``PUBSUB_EMULATOR_HOST``).

The publisher client is built on first use and cached. A failed or timed-out publish is a
``TransientError``: the caller answers 5xx (a webhook) or raises (a handler) so the
delivery is retried and nothing is lost.

``publish_many`` hands every message to the client before waiting on any: the client
groups them into requests of up to ``BATCH_MAX_MESSAGES`` messages (or ``BATCH_MAX_BYTES``)
and sends the requests concurrently, so a webhook carrying thousands of records waits
for a few dozen round trips at once instead of thousands one after another.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from shared.exceptions import TransientError

if TYPE_CHECKING:
    from google.cloud.pubsub_v1 import PublisherClient

# Design §3: the public topic names, and refused-input (what the webhooks refused, on its
# way to dead_letters: shared.refused). Each has a dead-letter topic "<topic>-dead-letter".
TOPICS = (
    "pto-logged",
    "renewal-changed",
    "health-changed",
    "gmail-push",
    "cadence-tick",
    "actions",
    "refused-input",
)
PUBLISH_TIMEOUT_S = 30.0
# The client's own batching (google-cloud-pubsub BatchSettings): a request holds at most
# this many messages or bytes (Pub/Sub's limits are 1,000 and 10 MB), and a message waits
# at most BATCH_MAX_LATENCY_S for others to join its batch. Whoever publishes here hands
# over every message at once (``publish_many``) and then waits for them: a batch has
# nobody to wait for, and the client's default 10 ms were added to every webhook and to
# every event's first action.
BATCH_MAX_MESSAGES = 100
BATCH_MAX_BYTES = 1024 * 1024
BATCH_MAX_LATENCY_S = 0.001

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
                from google.cloud.pubsub_v1.types import BatchSettings

                _publisher = PublisherClient(
                    batch_settings=BatchSettings(
                        max_messages=BATCH_MAX_MESSAGES,
                        max_bytes=BATCH_MAX_BYTES,
                        max_latency=BATCH_MAX_LATENCY_S,
                    )
                )
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
    return publish_many(topic, [(data, attributes)])[0]


def publish_many(
    topic: str,
    messages: Sequence[tuple[bytes, Mapping[str, str] | None]],
    timeout: float = PUBLISH_TIMEOUT_S,
) -> list[str]:
    """Publish ``messages`` (data, attributes) together and wait, ``timeout`` seconds in
    all, for every server id (returned in order). ``TransientError`` if any publish fails
    or the time runs out: some messages may have been published by then, so the caller's
    retry publishes them again and consumers, which apply an event id once, see no double.
    """
    deadline = time.monotonic() + timeout
    try:
        client, path = publisher(), topic_path(topic)
        futures = [client.publish(path, data, **(attributes or {})) for data, attributes in messages]
        return [str(future.result(timeout=max(0.0, deadline - time.monotonic()))) for future in futures]
    except Exception as exc:
        raise TransientError(f"publish to {topic} failed: {exc.__class__.__name__}: {exc}") from exc


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
