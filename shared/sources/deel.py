"""Deel time-off webhooks: signature check and normalisation to our PTO event.

What Deel sends (``../shared/vendors/README.md``): ``time-off.created``, ``.reviewed``,
``.updated`` and ``.deleted``; the body with or without the ``data`` wrapper; ``resource``
as an object or a one-element list; ``x-deel-signature`` = lowercase hex of
HMAC-SHA256(key, "POST" + raw body), with no timestamp signed.

Values no real request has are refused here, naming the field: ids over 255 characters,
an end before the start, and dates more than 10 years after or 5 years before the time
the webhook received them (stored, a 0001-01-01 start cannot even be placed in a TA's
time zone).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from shared.events import EventEnvelope, first_problem, stable_event_id, utc_checked
from shared.exceptions import PermanentError

TIME_OFF_EVENTS = frozenset({"time-off.created", "time-off.reviewed", "time-off.updated", "time-off.deleted"})
PTO_TOPIC = "pto-logged"
PTO_EVENT_TYPE = "pto.logged"
MAX_ID_CHARS = 255
YEARS_AHEAD = 10
YEARS_BEHIND = 5


def signature(key: str, raw_body: bytes) -> str:
    """The ``x-deel-signature`` Deel sends for ``raw_body`` under ``key``."""
    return hmac.new(key.encode(), b"POST" + raw_body, hashlib.sha256).hexdigest()


def verify(raw_body: bytes, header: str | None, keys: list[str]) -> bool:
    """True when ``header`` matches the body under any configured key (rotation keeps two)."""
    if not header or not keys:
        return False
    given = header.strip().lower().encode()
    return any(hmac.compare_digest(given, signature(k, raw_body).encode()) for k in keys if k)


class _Lenient(BaseModel):
    # Deel adds fields over time; only the ones named here are read.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class Meta(_Lenient):
    event_type: str = Field(min_length=1)
    event_type_id: str | int | None = None
    organization_id: str | int | None = None
    tracking_id: str | None = None


def _short_id(value: Any) -> Any:
    # Ids become document ids and entity keys: Deel's are UUIDs.
    if value is not None and len(str(value)) > MAX_ID_CHARS:
        raise PydanticCustomError("too_long", f"longer than {MAX_ID_CHARS} characters")
    return value


class Person(_Lenient):
    id: str | int | None = None
    name: str | None = None
    work_email: str | None = Field(default=None, max_length=254)  # RFC 5321's longest address


def _day(value: Any) -> Any:
    # The REST API gives YYYY-MM-DD; creation accepts date-times: take the date part.
    if isinstance(value, str) and len(value) > 10 and value[10] in "T ":
        return value[:10]
    return value


class TimeOff(_Lenient):
    id: str | int
    start_date: date
    end_date: date
    status: Literal["REQUESTED", "APPROVED", "REJECTED", "CANCELED", "USED"]
    updated_at: datetime | None = None
    type: str | None = None
    requester: Person | None = None
    start_date_is_half_day: bool = False
    end_date_is_half_day: bool = False
    date_is_half_day: bool = False

    _days = field_validator("start_date", "end_date", mode="before")(_day)
    _ids = field_validator("id")(_short_id)


class TimeOffDeleted(_Lenient):
    time_off_id: str | int | None = None
    id: str | int | None = None

    _ids = field_validator("time_off_id", "id")(_short_id)


def _envelope(body: Any) -> tuple[Meta, list[Any], datetime | None]:
    if not isinstance(body, dict):
        raise PermanentError("body: must be a JSON object")
    data = body.get("data", body)  # older deliveries have no "data" wrapper
    if not isinstance(data, dict):
        raise PermanentError("data: must be an object")
    try:
        meta = Meta.model_validate(data.get("meta"))
    except ValidationError as exc:
        raise PermanentError(_first_problem("meta", exc)) from None
    resource = data.get("resource")
    resources = resource if isinstance(resource, list) else [resource]
    stamp = body.get("timestamp")
    try:
        sent = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        raise PermanentError(f"timestamp: {str(stamp)[:40]!r} is not an ISO-8601 time") from None
    return meta, resources, _aware(sent, "timestamp")


def _first_problem(prefix: str, exc: ValidationError) -> str:
    return first_problem(exc, prefix)


def _aware(moment: datetime | None, where: str) -> datetime | None:
    """``moment`` with a zone (naive read as UTC); ``PermanentError`` when UTC has no such
    time (0001-01-01T00:00+05:00), which every later write of it would fail on."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc_checked(aware, where, moment.isoformat())


def _years_from(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _check_dates(t: TimeOff, where: str, received_at: datetime) -> None:
    """Dates no real request has: refused rather than planned around."""
    today = received_at.astimezone(UTC).date()
    earliest, latest = _years_from(today, -YEARS_BEHIND), _years_from(today, YEARS_AHEAD)
    if t.start_date < earliest:
        raise PermanentError(
            f"{where}.start_date: {t.start_date} is more than {YEARS_BEHIND} years before {today}"
        )
    if t.end_date > latest:
        raise PermanentError(f"{where}.end_date: {t.end_date} is more than {YEARS_AHEAD} years after {today}")
    if t.end_date < t.start_date:
        raise PermanentError(f"{where}.end_date: {t.end_date} is before start_date {t.start_date}")


def event_type_of(body: Any) -> str | None:
    """The Deel event type, if the body has one (for logs of refused requests)."""
    if isinstance(body, dict):
        data = body.get("data", body)
        if isinstance(data, dict) and isinstance(data.get("meta"), dict):
            value = data["meta"].get("event_type")
            return str(value) if value is not None else None
    return None


def normalize(body: Any, received_at: datetime) -> list[EventEnvelope]:
    """Our PTO events for a Deel webhook body; ``[]`` for event types taops does not use.

    Raises ``PermanentError`` naming the field when a time-off body does not parse or
    its dates are out of bounds (see the module docstring).
    """
    meta, resources, sent = _envelope(body)
    if meta.event_type not in TIME_OFF_EVENTS:
        return []
    if not resources or resources[0] is None:
        raise PermanentError("data.resource: missing")
    events = []
    for i, raw in enumerate(resources):
        where = f"data.resource[{i}]" if len(resources) > 1 else "data.resource"
        try:
            if meta.event_type == "time-off.deleted":
                payload, version = _deleted(raw, meta, sent)
            else:
                payload, version = _time_off(raw, meta, where, received_at)
        except ValidationError as exc:
            raise PermanentError(_first_problem(where, exc)) from None
        version = _aware(version, f"{where}.updated_at") or sent or received_at
        events.append(
            EventEnvelope(
                source="deel",
                type=PTO_EVENT_TYPE,
                event_id=stable_event_id(
                    "deel", meta.event_type, payload["absence_id"], version.isoformat(), payload["status"]
                ),
                entity_key=f"absence:{payload['absence_id']}",
                source_version=version,
                occurred_at=version,
                received_at=received_at,
                payload=payload,
            )
        )
    return events


def _time_off(
    raw: Any, meta: Meta, where: str, received_at: datetime
) -> tuple[dict[str, Any], datetime | None]:
    t = TimeOff.model_validate(raw)
    _check_dates(t, where, received_at)
    single_half = t.date_is_half_day and t.start_date == t.end_date
    requester = t.requester or Person()
    email = requester.work_email.strip().lower() if requester.work_email else None
    return (
        {
            "deel_event": meta.event_type,
            "absence_id": str(t.id),
            "requester_email": email,
            "requester_name": requester.name,
            "start_date": t.start_date.isoformat(),
            "end_date": t.end_date.isoformat(),
            "start_half_day": t.start_date_is_half_day or single_half,
            "end_half_day": t.end_date_is_half_day,
            "type": t.type,
            "status": t.status,
            "organization_id": None if meta.organization_id is None else str(meta.organization_id),
        },
        t.updated_at,
    )


def _deleted(raw: Any, meta: Meta, sent: datetime | None) -> tuple[dict[str, Any], datetime | None]:
    d = TimeOffDeleted.model_validate(raw)
    absence = d.time_off_id if d.time_off_id is not None else d.id
    if absence is None:
        raise PermanentError("data.resource.time_off_id: missing")
    # Deel's deletion names only the request: dates and requester come from what we stored.
    return (
        {
            "deel_event": meta.event_type,
            "absence_id": str(absence),
            "requester_email": None,
            "requester_name": None,
            "start_date": None,
            "end_date": None,
            "start_half_day": False,
            "end_half_day": False,
            "type": None,
            "status": "CANCELED",
            "organization_id": None if meta.organization_id is None else str(meta.organization_id),
        },
        sent,
    )
