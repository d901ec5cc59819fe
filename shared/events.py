"""The internal event envelope every handler receives, whatever the source.

Edges (webhooks, the Gmail push, the scheduler) normalise vendor payloads into this
envelope and publish it as versioned JSON. ``event_id`` is stable across deliveries: the
vendor's own id where it has one, else a hash of the fields that identify the event.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.exceptions import PermanentError

SCHEMA_VERSION: Literal[1] = 1
# A source version this far past the receiving clock is bad input, not news from the
# future: stored, it would make every later update of the entity look stale.
MAX_VERSION_AHEAD = timedelta(days=1)
Source = Literal["deel", "salesforce", "vitally", "gmail", "tick", "taops"]


def stable_event_id(source: str, *identifying: object) -> str:
    """A deterministic id from the fields that make an event itself (not its delivery)."""
    material = json.dumps([source, *identifying], default=str, separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:32]


_PLAIN = re.compile(r"^[A-Za-z0-9@._\-+=:~]*$")


def doc_key(*parts: str) -> str:
    """A Firestore-safe document id built from free text (``/`` and the like escaped)."""
    return ":".join(p if _PLAIN.match(p) else quote(p, safe="@._-+=:") for p in parts)


class EventEnvelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    source: Source
    type: str = Field(min_length=1)
    event_id: str = Field(min_length=1, max_length=500)
    # The business entity the event is about ("absence:123", "opportunity:006..."): the
    # unit at which out-of-order updates are detected.
    entity_key: str = Field(min_length=1, max_length=500)
    # The source's own version of the entity (Deel updated_at, Salesforce commit time...).
    # None means the source gives no order: the event is always applied.
    source_version: AwareDatetime | None = None
    occurred_at: AwareDatetime
    received_at: AwareDatetime
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def marker_id(self) -> str:
        return doc_key(self.source, self.event_id)

    @property
    def version_id(self) -> str:
        return doc_key(self.source, self.entity_key)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    def attributes(self) -> dict[str, str]:
        """Pub/Sub message attributes, for filtering and for logs without decoding the body."""
        return {
            "source": self.source,
            "type": self.type,
            "event_id": self.event_id,
            "entity_key": self.entity_key,
            "schema_version": str(self.schema_version),
        }

    @classmethod
    def from_json(cls, raw: bytes | str) -> EventEnvelope:
        """Parse a published envelope; a bad one is a ``PermanentError`` naming the field."""
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise PermanentError(f"not a taops event envelope: {first_problem(exc)}") from None


def first_problem(exc: ValidationError, prefix: str | None = None) -> str:
    """The first thing pydantic refused, as ``field.path: message`` (under ``prefix``)."""
    err = exc.errors()[0]
    where = ".".join([*([prefix] if prefix else []), *(str(p) for p in err["loc"])]) or "(body)"
    return f"{where}: {err['msg']}"


def utc_checked(moment: datetime, where: str, shown: str) -> datetime:
    """``moment`` (aware) when UTC can hold it; ``PermanentError`` otherwise: a time such as
    0001-01-01T00:00+05:00 has no UTC time, and every later write of it would fail."""
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise PermanentError(f"{where}: {shown} is out of range") from None
    return moment


def check_version(event: EventEnvelope, now: datetime) -> None:
    """Refuse an event whose source version lies more than a day after ``now``
    (``PermanentError`` naming the entity): a year-9999 ``updatedAt`` would otherwise
    turn every later update of that entity, a real cancellation included, into a stale one."""
    if event.source_version is not None and event.source_version > now + MAX_VERSION_AHEAD:
        raise PermanentError(
            f"{event.entity_key}: source version {event.source_version.isoformat()} is more than "
            f"a day after {now.isoformat()}"
        )
