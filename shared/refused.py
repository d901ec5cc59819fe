"""Keeping what a webhook refused, without giving the webhook the database.

A webhook may only publish: to its event topic and to ``refused-input``. When
``TAOPS_REFUSED_TOPIC`` names that topic (every deployed webhook, and ``taops dev``), a
refusal's ``dead_letters`` document is published there as one message, and
``keep_refused`` (the one function subscribed to it, which may write Firestore and nothing
else) stores it under the same id. Without it (tests, the demo, an embedded store) the
webhook writes the document itself. Either way the document is the same one
``shared.processing.dead_letter_record`` builds, so ``taops dead-letters`` cannot tell
which way it came.

A refused body is kept at most once per body (the id is a hash of source and body), so
a message Pub/Sub delivers twice overwrites its own document with the same content.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from shared.exceptions import PermanentError
from shared.store.base import Document

REFUSED_TOPIC = "refused-input"
TOPIC_ENV = "TAOPS_REFUSED_TOPIC"
# A webhook waits this long for the refusal to be published: keeping it is best effort and
# must not hold the vendor's answer past its own timeout.
PUBLISH_BUDGET_SECONDS = 5.0
_ID = re.compile(r"[0-9a-f]{32}")
# What every kept document says, whichever function refused it.
_REQUIRED = ("source", "function", "reason", "received_at", "raw_sha256", "raw_bytes")


def topic() -> str | None:
    """The topic refusals are published to, or None when the webhook keeps them itself."""
    return os.environ.get(TOPIC_ENV) or None


def message(doc_id: str, doc: Document) -> tuple[bytes, dict[str, str]]:
    """The Pub/Sub message carrying one ``dead_letters`` document, and its attributes."""
    data = json.dumps({"id": doc_id, "document": doc}, ensure_ascii=False, separators=(",", ":"))
    return data.encode(), {"dead_letter_id": doc_id, "source": str(doc.get("source", ""))[:100]}


def parse(data: bytes) -> tuple[str, Document]:
    """The document a refusal message carries, or ``PermanentError`` naming what is wrong."""
    try:
        body: Any = json.loads(data)
    except ValueError:
        raise PermanentError("refused input: not a JSON message") from None
    if not isinstance(body, dict) or not isinstance(body.get("document"), dict):
        raise PermanentError("refused input: expected {id, document}")
    doc_id, doc = body.get("id"), body["document"]
    if not isinstance(doc_id, str) or not _ID.fullmatch(doc_id):
        raise PermanentError("refused input: id is not a dead letter's id (32 hex characters)")
    missing = [name for name in _REQUIRED if name not in doc]
    if missing:
        raise PermanentError(f"refused input: document lacks {', '.join(missing)}")
    return doc_id, doc
