"""Gmail message resources (``format=metadata``) in the shape of the documented fixture
(tests/events/gmail_message_get_metadata_response.json), for mailbox scenarios."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

FIXTURE = Path(__file__).resolve().parent / "events" / "gmail_message_get_metadata_response.json"
GROUP = "technicaladvisors@example.com"


def gmail_message(
    message_id: str,
    thread_id: str,
    sender: str,
    subject: str,
    at: datetime,
    *,
    name: str | None = None,
    **headers: str,
) -> dict[str, Any]:
    """A message in ``thread_id`` from ``sender`` at ``at``; extra headers by keyword
    (``Auto_Submitted="auto-replied"`` becomes ``Auto-Submitted``)."""
    message = copy.deepcopy(json.loads(FIXTURE.read_text()))
    message.update(id=message_id, threadId=thread_id, internalDate=str(int(at.timestamp() * 1000)))
    message["payload"]["headers"] = [
        {"name": "From", "value": f"{name} <{sender}>" if name else sender},
        {"name": "To", "value": GROUP},
        {"name": "Subject", "value": subject},
        {"name": "Date", "value": format_datetime(at)},
        {"name": "Message-ID", "value": f"<{message_id}@mail.test>"},
        *({"name": key.replace("_", "-"), "value": value} for key, value in headers.items()),
    ]
    return message


def line(at: datetime, source: str, payload: Any) -> str:
    """One replay line."""
    return json.dumps({"at": at.isoformat().replace("+00:00", "Z"), "source": source, "payload": payload})
