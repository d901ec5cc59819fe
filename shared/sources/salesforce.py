"""Salesforce Opportunity changes: Outbound Messaging (SOAP) and Change Data Capture (JSON).

Outbound Messages carry 1-100 ``Notification`` elements, each an ``sf:Opportunity`` with
its latest field values; Salesforce retries until it gets ``<Ack>true</Ack>`` and may
repeat or reorder deliveries, so the notification ``Id`` is the event id. There is no
signature: the org id is checked against an allowlist and the URL carries our secret.

CDC events come as a relay forwards them (CometD with or without the Bayeux ``data``
wrapper, or decoded from the Pub/Sub API): a ``ChangeEventHeader`` with ``recordIds``,
``commitTimestamp`` and, sometimes, ``changedFields`` (names over CometD, hex bitmaps over
the Pub/Sub API, so the body's keys are the fallback).

XML is parsed with defusedxml: no DTDs, no entity expansion, no external entities.
A value no real Opportunity has (an id over 255 characters, an epoch time or date out of
range, an amount that is not a finite number) is refused naming its field.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeGuard
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from shared.events import EventEnvelope, stable_event_id, utc_checked
from shared.exceptions import PermanentError

RENEWAL_TOPIC = "renewal-changed"
RENEWAL_EVENT_TYPE = "renewal.changed"
OM_NS = "http://soap.sforce.com/2005/09/outbound"
SF_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OM_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)
# The Opportunity fields a renewal needs, by their Salesforce API names.
FIELDS = (
    "AccountId",
    "Amount",
    "CloseDate",
    "Name",
    "StageName",
    "Type",
    "IsClosed",
    "IsWon",
    "LastModifiedDate",
)
# Salesforce ids are 15 or 18 characters; ids become event ids and entity keys.
MAX_ID_CHARS = 255


def same_org(org_id: str, allowed: list[str]) -> bool:
    """Org ids come as 15 or 18 characters; the first 15 identify the org (case-sensitive)."""
    return any(org_id[:15] == a.strip()[:15] for a in allowed if a.strip())


def is_xml(raw: bytes) -> bool:
    return raw.lstrip()[:1] == b"<"


# -- Outbound Messaging --------------------------------------------------------------------


def parse_outbound_message(raw: bytes) -> Element:
    """The ``notifications`` element; ``PermanentError`` for bad or dangerous XML."""
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise PermanentError(f"body: refused XML ({exc.__class__.__name__})") from None
    except ParseError as exc:
        raise PermanentError(f"body: not well-formed XML ({exc})") from None
    found = root if root.tag == f"{{{OM_NS}}}notifications" else root.find(f".//{{{OM_NS}}}notifications")
    if found is None:
        raise PermanentError("body: no Outbound Message notifications element")
    return found


def outbound_org_id(notifications: Element) -> str:
    return (notifications.findtext(f"{{{OM_NS}}}OrganizationId") or "").strip()


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _id(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS:
        raise PermanentError(f"{where}: not an id of at most {MAX_ID_CHARS} characters")
    return value


def _text(fields: dict[str, Any], name: str, where: str) -> str | None:
    value = fields.get(name)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PermanentError(f"{where}.{name}: {_show(value)} is not text")
    return value


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_date(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PermanentError(f"{where}: {_show(value)} is not a date")
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        raise PermanentError(f"{where}: {_show(value)} is not a date") from None


def _epoch_date(value: int | float, where: str) -> str:
    # Pub/Sub API dates are epoch days (or milliseconds); either can lie outside any calendar.
    try:
        if abs(value) < 10**6:
            return (date(1970, 1, 1) + timedelta(days=value)).isoformat()
        return datetime.fromtimestamp(value / 1000, UTC).date().isoformat()
    except (OverflowError, ValueError, OSError):
        raise PermanentError(f"{where}: {_show(value)} is out of range") from None


def _parse_time(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise PermanentError(f"{where}: {_show(value)} is not a date-time")
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value / 1000, UTC)
        moment = datetime.fromisoformat(str(value))
    except (OverflowError, OSError):
        raise PermanentError(f"{where}: {_show(value)} is out of range") from None
    except ValueError:
        if _is_number(value):  # NaN, or a year datetime cannot hold
            raise PermanentError(f"{where}: {_show(value)} is out of range") from None
        raise PermanentError(f"{where}: {_show(value)} is not a date-time") from None
    return utc_checked(moment if moment.tzinfo else moment.replace(tzinfo=UTC), where, _show(value))


def _parse_amount(value: Any, where: str) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise PermanentError(f"{where}: {_show(value)} is not an amount")
    try:
        amount = float(value)
    except (TypeError, ValueError, OverflowError):
        raise PermanentError(f"{where}: {_show(value)} is not an amount") from None
    if not math.isfinite(amount):
        raise PermanentError(f"{where}: {_show(value)} is not an amount")
    return amount


def _bool(value: Any) -> bool | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, bool) else str(value).strip().lower() == "true"


def _payload(opportunity_id: str, fields: dict[str, Any], changed: list[str], where: str) -> dict[str, Any]:
    close = fields.get("CloseDate")
    if _is_number(close):  # Pub/Sub API: epoch days or ms
        close = _epoch_date(close, f"{where}.CloseDate")
    account = _text(fields, "AccountId", where)
    return {
        "opportunity_id": opportunity_id,
        "account_salesforce_id": _id(account, f"{where}.AccountId") if account else None,
        "name": _text(fields, "Name", where),
        "type": _text(fields, "Type", where),
        "stage": _text(fields, "StageName", where),
        "close_date": _parse_date(close, f"{where}.CloseDate"),
        "amount": _parse_amount(fields.get("Amount"), f"{where}.Amount"),
        "is_closed": _bool(fields.get("IsClosed")),
        "is_won": _bool(fields.get("IsWon")),
        "changed_fields": changed,
        "present_fields": sorted(k for k in FIELDS if fields.get(k) not in (None, "")),
    }


def normalize_outbound_message(notifications: Element, received_at: datetime) -> list[EventEnvelope]:
    events = []
    for i, note in enumerate(notifications.findall(f"{{{OM_NS}}}Notification")):
        where = f"Notification[{i}]"
        note_id = (note.findtext(f"{{{OM_NS}}}Id") or "").strip()
        sobject = note.find(f"{{{OM_NS}}}sObject")
        if not note_id or sobject is None:
            raise PermanentError(f"{where}: needs an Id and an sObject")
        _id(note_id, f"{where}.Id")
        if not (sobject.get(XSI_TYPE) or "").endswith("Opportunity"):
            continue  # another object's message on the same endpoint: not ours
        fields = {child.tag.split("}")[-1]: (child.text or "").strip() for child in sobject}
        opportunity_id = fields.get("Id", "")
        if not opportunity_id:
            raise PermanentError(f"{where}.sObject.Id: missing")
        _id(opportunity_id, f"{where}.sObject.Id")
        version = _parse_time(fields.get("LastModifiedDate"), f"{where}.LastModifiedDate")
        payload = _payload(opportunity_id, fields, sorted(k for k in fields if k != "Id"), where)
        events.append(_event(note_id, opportunity_id, payload, version, received_at))
    if not notifications.findall(f"{{{OM_NS}}}Notification"):
        raise PermanentError("notifications: no Notification element")
    return events


# -- Change Data Capture ---------------------------------------------------------------------


def _cdc_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise PermanentError("body: must be a JSON object")
    if isinstance(body.get("data"), dict):  # Bayeux wrapper
        body = body["data"]
    if isinstance(body.get("payload"), dict):  # CometD message
        body = body["payload"]
    if not isinstance(body.get("ChangeEventHeader"), dict):
        raise PermanentError("payload.ChangeEventHeader: missing")
    return body


def normalize_cdc(body: Any, received_at: datetime) -> list[EventEnvelope]:
    """One renewal-changed event per Opportunity record in a CDC event; other objects: ``[]``."""
    payload = _cdc_body(body)
    header = payload["ChangeEventHeader"]
    if header.get("entityName") != "Opportunity":
        return []
    change = str(header.get("changeType", ""))
    if change.startswith("GAP") or change == "DELETE":
        # A gap has no field values to apply (reconcile from Salesforce instead); a deleted
        # opportunity leaves the account's last known renewal as it was.
        return []
    records = header.get("recordIds")
    if not isinstance(records, list) or not records or not all(isinstance(r, str) for r in records):
        raise PermanentError("ChangeEventHeader.recordIds: must be a non-empty list of ids")
    if any("*" in r for r in records):
        raise PermanentError("ChangeEventHeader.recordIds: wildcard ids name no record")
    for i, record in enumerate(records):
        _id(record, f"ChangeEventHeader.recordIds[{i}]")
    version = _parse_time(header.get("commitTimestamp"), "ChangeEventHeader.commitTimestamp")
    if version is None:
        raise PermanentError("ChangeEventHeader.commitTimestamp: missing")
    listed = header.get("changedFields")
    listed = listed if isinstance(listed, list) else []
    named = [f for f in listed if isinstance(f, str) and not f.startswith("0x")]
    fields = {k: v for k, v in payload.items() if k != "ChangeEventHeader"}
    changed = sorted(named) if named else sorted(k for k, v in fields.items() if v is not None)
    events = []
    for record in records:
        data = _payload(record, fields, changed, "payload")
        identity = stable_event_id(
            "salesforce-cdc",
            header.get("transactionKey"),
            header.get("sequenceNumber"),
            header.get("commitNumber"),
            record,
        )
        events.append(_event(identity, record, data, version, received_at))
    return events


def _event(
    event_id: str,
    opportunity_id: str,
    payload: dict[str, Any],
    version: datetime | None,
    received_at: datetime,
) -> EventEnvelope:
    return EventEnvelope(
        source="salesforce",
        type=RENEWAL_EVENT_TYPE,
        event_id=event_id,
        entity_key=f"opportunity:{opportunity_id}",
        source_version=version,
        occurred_at=version or received_at,
        received_at=received_at,
        payload=payload,
    )
