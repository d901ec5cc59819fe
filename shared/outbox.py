"""The transactional outbox: actions committed with the state are published afterwards.

A handler's actions are written with status ``pending``. Right after the commit, the ones
already due (no ``not_before``, or one that has passed) are published to the ``actions``
topic and marked ``published``; the ``outbox-relay`` tick publishes whatever is left:
actions whose publish failed, and deferred ones as they fall due. Publishing twice is
harmless: delivery checks the action's status before it sends anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from shared.exceptions import TransientError
from shared.logs import log
from shared.models import utc_text
from shared.processing import OUTBOX
from shared.store import Document, Store, Where

ACTIONS_TOPIC = "actions"
Publisher = Callable[[bytes, dict[str, str]], str]


def pubsub_publisher(data: bytes, attributes: dict[str, str]) -> str:
    from shared import pubsub

    return pubsub.publish(ACTIONS_TOPIC, data, attributes)


def publishing_enabled() -> bool:
    """``TAOPS_PUBLISH_ACTIONS=0`` keeps actions in the outbox (tests, the demo, replay)."""
    return os.environ.get("TAOPS_PUBLISH_ACTIONS", "1") != "0"


def is_due(action: Document, now: datetime) -> bool:
    not_before = action.get("not_before")
    return not not_before or str(not_before) <= utc_text(now)


def _mark_published(store: Store, action_id: str, now: datetime, message_id: str) -> bool:
    """Record the publish on an action still ``pending``. ``deliver_action`` often has the
    message before this runs and is claiming the same document: a conditional write (no
    transaction) never holds a lock its claim could deadlock on; finding it claimed
    already, it leaves it alone."""

    def change(doc: Document) -> Document | None:
        if doc.get("status") != "pending":
            return None
        return {"status": "published", "published_at": utc_text(now), "message_id": message_id}

    return store.update(OUTBOX, action_id, change)


def publish(
    store: Store, actions: Iterable[tuple[str, Document]], now: datetime, publisher: Publisher | None = None
) -> int:
    """Publish the due, pending ``actions``; returns how many went out.

    A publish failure stops the run and leaves the rest pending for the relay (logged).
    """
    send = publisher or pubsub_publisher
    count = 0
    for action_id, doc in actions:
        if doc.get("status") != "pending" or not is_due(doc, now):
            continue
        attributes = {
            "action_id": action_id,
            "kind": str(doc.get("kind")),
            "idempotency_key": str(doc.get("idempotency_key")),
        }
        try:
            message_id = send(json.dumps(doc, sort_keys=True).encode(), attributes)
        except TransientError as exc:
            log("WARNING", f"publish failed, the relay will retry: {exc}", action_id=action_id)
            break
        if _mark_published(store, action_id, now, message_id):
            count += 1
    return count


def relay(store: Store, now: datetime, publisher: Publisher | None = None) -> dict[str, Any]:
    """The ``outbox-relay`` job: publish every pending action that is due.

    It runs every few minutes, so it reads only what is due: actions with no
    ``not_before``, and deferred ones whose time has come (the composite index on
    ``status, not_before`` in ``infra/``); actions deferred to next month cost nothing.
    """
    undeferred = store.query(OUTBOX, Where("status", "==", "pending"), Where("not_before", "==", None))
    fallen_due = store.query(
        OUTBOX, Where("status", "==", "pending"), Where("not_before", "<=", utc_text(now))
    )
    due = sorted(undeferred + fallen_due)
    published = publish(store, due, now, publisher)
    return {"due": len(due), "published": published}
