"""Bodies no vendor sends on purpose, with a valid signature or token, through the real
functions framework and the Pub/Sub emulator: each is a 400 with a one-line reason and a
dead letter, and publishes nothing, never a 500 the vendor retries for a day. Without
any credential, a large body of invalid UTF-8 is a 401 whose dead letter keeps no body."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared import clients
from shared.processing import DEAD_LETTERS
from shared.sources import deel

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
# The fixtures' dates are judged against this time, not the day the suite runs.
CLOCK = "2025-06-01T12:00:00+00:00"
DEEL_KEY = "test-signing-key"
SF_TOKEN = "sf-shared-secret"
SF_ORG = "00D5e000000KQ2eEAG"
VITALLY_TOKEN = "vitally-url-secret"
NESTED = b"[" * 100_000 + b"]" * 100_000
DIGITS = "9" * 5000
LONG_ID = "x" * 600
YEAR_9999 = "9999-12-31T00:00:00Z"
INVALID_UTF8 = b"\xff\xfe\xc3" * (600 * 1024 // 3)  # 600 KB that no UTF-8 decoder accepts


def text(name: str) -> str:
    return (EVENTS / name).read_text()


def json_with(name: str, edit: Callable[[dict], None]) -> bytes:
    body = json.loads(text(name))
    edit(body)
    return json.dumps(body).encode()


def literal(name: str, edit: Callable[[dict], None], placeholder: str, raw: str) -> bytes:
    """A body with a value ``json.dumps`` cannot write (NaN, 5,000 digits) put in by hand."""
    return json_with(name, edit).replace(f'"{placeholder}"'.encode(), raw.encode())


def resource(**fields: Any) -> Callable[[dict], None]:
    return lambda body: body["data"]["resource"].update(fields)


def cdc_header(**fields: Any) -> Callable[[dict], None]:
    return lambda body: body["payload"]["ChangeEventHeader"].update(fields)


def cdc_field(**fields: Any) -> Callable[[dict], None]:
    return lambda body: body["payload"].update(fields)


def account(**fields: Any) -> Callable[[dict], None]:
    return lambda body: body["match"]["account"].update(fields)


APPROVAL = "deel_time_off_reviewed_approved.json"
CDC = "salesforce_cdc_opportunity_update_cometd.json"
PLAYBOOK = "vitally_playbook_webhook_UNCONFIRMED.json"
ABSENCE = "absence:7b1f0d4e-2c9a-4f6e-9a1b-3d2e5f6a7b8c"


def deel_body(edit: Callable[[dict], None]) -> bytes:
    return json_with(APPROVAL, edit)


def outbound_message(old: str, new: str) -> bytes:
    xml = text("salesforce_outbound_message_opportunity.xml")
    assert old in xml
    return xml.replace(old, new, 1).encode()


ENTRY_POINTS = {
    "deel": ("deel_webhook", "pto-logged", {"TAOPS_DEEL_SIGNING_KEY": DEEL_KEY}),
    "salesforce": (
        "salesforce_webhook",
        "renewal-changed",
        {"TAOPS_SALESFORCE_TOKEN": SF_TOKEN, "TAOPS_SALESFORCE_ORG_IDS": SF_ORG[:15]},
    ),
    "vitally": ("vitally_webhook", "health-changed", {"TAOPS_VITALLY_TOKEN": VITALLY_TOKEN}),
}


@pytest.fixture
def hook(webhook, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], tuple[Any, Any]]:
    """``hook(source)``: that webhook's test client and a probe on its topic, on a fixed clock."""
    monkeypatch.setenv("TAOPS_CLOCK", CLOCK)
    return lambda source: webhook(*ENTRY_POINTS[source])


def authenticated(source: str, body: bytes) -> tuple[str, dict[str, str]]:
    """The path and headers of a request the webhook authenticates."""
    if source == "deel":
        return "/", {"content-type": "application/json", "x-deel-signature": deel.signature(DEEL_KEY, body)}
    if source == "salesforce":
        kind = "text/xml" if body.lstrip().startswith(b"<") else "application/json"
        return f"/?token={SF_TOKEN}", {"content-type": kind, "x-salesforce-org-id": SF_ORG}
    return f"/?token={VITALLY_TOKEN}", {"content-type": "application/json"}


SENTINELS = {
    "deel": (EVENTS / APPROVAL).read_bytes(),
    "salesforce": (EVENTS / CDC).read_bytes(),
    "vitally": (EVENTS / PLAYBOOK).read_bytes(),
}

# (webhook, body, the reason's start)
BAD = {
    # 1. bodies that used to raise RecursionError, ValueError, ValidationError or OverflowError
    "deel: JSON nested 100,000 deep": ("deel", NESTED, "body: JSON nested deeper than 64 levels"),
    "deel: a 5,000-digit number": (
        "deel",
        literal(APPROVAL, resource(id="@"), "@", DIGITS),
        "body: a number of 5000 characters is too long",
    ),
    "deel: a request id over 500 characters": (
        "deel",
        deel_body(resource(id=LONG_ID)),
        "data.resource.id: longer than 255 characters",
    ),
    "deel: a NaN literal": (
        "deel",
        literal(APPROVAL, resource(reason="@"), "@", "NaN"),
        "body: NaN is not a JSON number",
    ),
    "deel: an Infinity literal": (
        "deel",
        literal(APPROVAL, resource(contract_id="@"), "@", "-Infinity"),
        "body: -Infinity is not a JSON number",
    ),
    "salesforce: JSON nested 100,000 deep": ("salesforce", NESTED, "body: JSON nested deeper than 64 levels"),
    "salesforce: a 5,000-digit number": (
        "salesforce",
        literal(CDC, cdc_header(commitNumber="@"), "@", DIGITS),
        "body: a number of 5000 characters is too long",
    ),
    "salesforce: a record id over 500 characters": (
        "salesforce",
        json_with(CDC, cdc_header(recordIds=[LONG_ID])),
        "ChangeEventHeader.recordIds[0]: not an id of at most 255 characters",
    ),
    "salesforce: an Outbound Message notification id over 500 characters": (
        "salesforce",
        outbound_message("<Id>04l5e00000Gx7QzAAJ</Id>", f"<Id>{LONG_ID}</Id>"),
        "Notification[0].Id: not an id of at most 255 characters",
    ),
    "salesforce: a commitTimestamp of 1e20": (
        "salesforce",
        literal(CDC, cdc_header(commitTimestamp="@"), "@", "1e20"),
        "ChangeEventHeader.commitTimestamp: 1e+20 is out of range",
    ),
    "salesforce: a CloseDate of -999999 epoch days": (
        "salesforce",
        json_with(CDC, cdc_field(CloseDate=-999999)),
        "payload.CloseDate: -999999 is out of range",
    ),
    "salesforce: an Amount that overflows to inf": (
        "salesforce",
        literal(CDC, cdc_field(Amount="@"), "@", "1e999"),
        "body: the number 1e999 is out of range",
    ),
    "vitally: JSON nested 100,000 deep": ("vitally", NESTED, "body: JSON nested deeper than 64 levels"),
    "vitally: an account id over 500 characters": (
        "vitally",
        json_with(PLAYBOOK, account(id=LONG_ID)),
        "match.account.id: String should have at most 255 characters",
    ),
    "vitally: an Infinity literal in a trait": (
        "vitally",
        literal(PLAYBOOK, account(region="@"), "@", "Infinity"),
        "body: Infinity is not a JSON number",
    ),
    "vitally: a trait that overflows to inf": (
        "vitally",
        literal(PLAYBOOK, account(plan="@"), "@", "-1e400"),
        "body: the number -1e400 is out of range",
    ),
    # 2. Deel dates no real request has (the TA's zone cannot even place 0001-01-01)
    "deel: an end_date of 9999-12-31": (
        "deel",
        deel_body(resource(end_date="9999-12-31")),
        "data.resource.end_date: 9999-12-31 is more than 10 years after 2025-06-01",
    ),
    "deel: a start_date of 0001-01-01": (
        "deel",
        deel_body(resource(start_date="0001-01-01")),
        "data.resource.start_date: 0001-01-01 is more than 5 years before 2025-06-01",
    ),
    "deel: an end_date before the start_date": (
        "deel",
        deel_body(resource(start_date="2025-06-13", end_date="2025-06-09")),
        "data.resource.end_date: 2025-06-09 is before start_date 2025-06-13",
    ),
    # 3. a source version in year 9999 would make every later update of the entity stale
    "deel: an updated_at in year 9999": (
        "deel",
        deel_body(resource(updated_at=YEAR_9999)),
        f"{ABSENCE}: source version 9999-12-31T00:00:00+00:00 is more than a day after {CLOCK}",
    ),
    "salesforce: a LastModifiedDate in year 9999": (
        "salesforce",
        outbound_message(
            "<sf:Name>", "<sf:LastModifiedDate>9999-12-31T00:00:00.000Z</sf:LastModifiedDate><sf:Name>"
        ),
        "opportunity:0065e00000KqLm2AAF: source version 9999-12-31T00:00:00+00:00 is more than a day",
    ),
    "salesforce: a commitTimestamp in year 9999": (
        "salesforce",
        json_with(CDC, cdc_header(commitTimestamp=253402214400000)),
        "opportunity:0065e00000KqLm2AAF: source version 9999-12-31T00:00:00+00:00 is more than a day",
    ),
    "vitally: an updatedAt in year 9999": (
        "vitally",
        json_with(PLAYBOOK, account(updatedAt=YEAR_9999)),
        "vitally-account:3f8a2b1c-4d5e-4f60-8a7b-9c0d1e2f3a4b: source version 9999-12-31T00:00:00+00:00",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_signed_body_taops_cannot_use_is_a_400_with_one_line_naming_the_field(hook, case: str) -> None:
    source, body, reason = BAD[case]
    client, probe = hook(source)
    path, headers = authenticated(source, body)

    response = client.post(path, data=body, headers=headers)

    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    error = response.get_json()["error"]
    assert error.startswith(reason)
    assert "\n" not in error and len(error) <= 300
    [(_, kept)] = clients.store().query(DEAD_LETTERS)
    assert kept["reason"] == error and kept["raw_bytes"] == len(body)
    assert kept["raw"] and not kept.get("unauthenticated")  # authenticated: a bounded excerpt is kept
    # nothing was published: the next good event is the first to arrive
    path, headers = authenticated(source, SENTINELS[source])
    [sentinel] = client.post(path, data=SENTINELS[source], headers=headers).get_json()["event_ids"]
    assert [e.event_id for e in probe.drain_until(sentinel)] == [sentinel]


@pytest.mark.parametrize(
    ("source", "path", "headers"),
    [
        ("deel", "/", {"x-deel-signature": "0" * 64}),
        ("salesforce", "/?token=guess", {"x-salesforce-org-id": SF_ORG}),
        ("vitally", "/", {}),
    ],
)
def test_an_unauthenticated_body_of_invalid_utf8_is_a_401_whose_dead_letter_keeps_no_body(
    hook, source: str, path: str, headers: dict[str, str]
) -> None:
    client, _ = hook(source)

    response = client.post(path, data=INVALID_UTF8, headers={"content-type": "application/json", **headers})

    assert response.status_code == 401
    [(_, kept)] = clients.store().query(DEAD_LETTERS)
    assert kept["raw"] is None and kept["unauthenticated"] is True
    assert kept["raw_bytes"] == len(INVALID_UTF8) and len(kept["raw_sha256"]) == 64
    assert {"content-type", "content-length"} <= set(kept["header_names"])
