"""Inputs no vendor sends on purpose, refused by the parsers and sources with a reason that
names the field, never raised as something the webhook would answer 500 to."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from functions.webhooks import MAX_REASON_CHARS, parse_json, refusal_reason
from shared.events import EventEnvelope
from shared.exceptions import ConfigurationError, PermanentError, TransientError
from shared.sources import deel, vitally
from shared.sources import salesforce as sf
from shared.sources.http import json_object

EVENTS = Path(__file__).resolve().parents[1] / "events"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
LONG_ID = "x" * 501


def body(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def deel_approval(**resource: object) -> dict:
    approved = body("deel_time_off_reviewed_approved.json")
    approved["data"]["resource"].update(resource)
    return approved


def cdc(header: dict | None = None, **fields: object) -> dict:
    event = copy.deepcopy(body("salesforce_cdc_opportunity_update_cometd.json"))
    event["payload"]["ChangeEventHeader"].update(header or {})
    event["payload"].update(fields)
    return event


def refused(call, *args) -> str:
    with pytest.raises(PermanentError) as caught:
        call(*args)
    return caught.value.reason


# -- the JSON every webhook parses ---------------------------------------------------------


def test_json_nested_100000_deep_is_refused_as_too_deep() -> None:
    reason = refused(parse_json, b"[" * 100_000 + b"]" * 100_000)
    assert reason == "body: JSON nested deeper than 64 levels"


def test_json_nested_deeper_than_64_but_within_recursion_is_refused_too() -> None:
    assert "nested deeper than 64" in refused(parse_json, b'{"a":' * 65 + b"1" + b"}" * 65)


def test_json_nested_64_deep_is_read() -> None:
    assert parse_json(b"[" * 64 + b"]" * 64) is not None


def test_a_5000_digit_number_is_refused_before_int_reads_it() -> None:
    assert refused(parse_json, b'{"id": ' + b"9" * 5000 + b"}") == (
        "body: a number of 5000 characters is too long"
    )


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_refused(literal: str) -> None:
    assert refused(parse_json, f'{{"healthScore": {literal}}}'.encode()) == (
        f"body: {literal} is not a JSON number"
    )


def test_a_float_that_overflows_to_infinity_is_refused() -> None:
    assert refused(parse_json, b'{"Amount": 1e999}') == "body: the number 1e999 is out of range"


def test_a_refusal_reason_is_one_bounded_line_naming_the_field() -> None:
    with pytest.raises(Exception) as caught:
        EventEnvelope(
            source="deel",
            type="pto.logged",
            event_id="e",
            entity_key="absence:" + "x\n" * 400,
            occurred_at=NOW,
            received_at=NOW,
        )
    reason = refusal_reason(caught.value)
    assert reason.startswith("entity_key: String should have at most 500 characters")
    assert "\n" not in reason and len(reason) <= MAX_REASON_CHARS
    long_one = refusal_reason(ValueError("line one\nline two " + "y" * 1000))
    assert long_one.startswith("unexpected ValueError: line one line two")
    assert len(long_one) == MAX_REASON_CHARS and "\n" not in long_one


# -- Salesforce ----------------------------------------------------------------------------


def test_a_cdc_commit_timestamp_of_1e20_is_out_of_range() -> None:
    reason = refused(sf.normalize_cdc, cdc({"commitTimestamp": 1e20}), NOW)
    assert reason == "ChangeEventHeader.commitTimestamp: 1e+20 is out of range"


def test_a_cdc_close_date_of_minus_999999_epoch_days_is_out_of_range() -> None:
    reason = refused(sf.normalize_cdc, cdc(CloseDate=-999999), NOW)
    assert reason == "payload.CloseDate: -999999 is out of range"


def test_a_cdc_close_date_in_epoch_milliseconds_past_year_9999_is_out_of_range() -> None:
    assert refused(sf.normalize_cdc, cdc(CloseDate=10**18), NOW) == (
        "payload.CloseDate: 1000000000000000000 is out of range"
    )


def test_a_cdc_close_date_that_is_a_list_is_not_a_date() -> None:
    assert (
        refused(sf.normalize_cdc, cdc(CloseDate=["2025"]), NOW) == "payload.CloseDate: ['2025'] is not a date"
    )


def test_a_cdc_record_id_over_255_characters_is_refused_naming_it() -> None:
    reason = refused(sf.normalize_cdc, cdc({"recordIds": [LONG_ID]}), NOW)
    assert reason == "ChangeEventHeader.recordIds[0]: not an id of at most 255 characters"


def test_a_cdc_amount_too_large_for_a_float_is_not_an_amount() -> None:
    reason = refused(sf.normalize_cdc, cdc(Amount=10**400), NOW)
    assert reason.startswith("payload.Amount: ") and reason.endswith("is not an amount")


def test_a_cdc_account_id_that_is_an_object_is_not_text() -> None:
    assert refused(sf.normalize_cdc, cdc(AccountId={"id": 1}), NOW) == (
        "payload.AccountId: {'id': 1} is not text"
    )


def test_cdc_changed_fields_that_are_not_a_list_fall_back_to_the_body_keys() -> None:
    [event] = sf.normalize_cdc(cdc({"changedFields": 7}), NOW)
    assert event.payload["changed_fields"] == ["Amount", "CloseDate", "LastModifiedDate", "StageName"]


def test_an_outbound_message_amount_of_nan_is_not_an_amount() -> None:
    xml = (EVENTS / "salesforce_outbound_message_opportunity.xml").read_bytes()
    assert b"<sf:Amount>" in xml
    start = xml.index(b"<sf:Amount>") + len(b"<sf:Amount>")
    nan = xml[:start] + b"NaN" + xml[xml.index(b"</sf:Amount>") :]
    reason = refused(sf.normalize_outbound_message, sf.parse_outbound_message(nan), NOW)
    assert reason == "Notification[0].Amount: 'NaN' is not an amount"


def test_an_outbound_message_notification_id_over_255_characters_is_refused() -> None:
    xml = (EVENTS / "salesforce_outbound_message_opportunity.xml").read_text()
    notes = sf.parse_outbound_message(xml.replace("<Id>04l", f"<Id>{LONG_ID}", 1).encode())
    assert refused(sf.normalize_outbound_message, notes, NOW) == (
        "Notification[0].Id: not an id of at most 255 characters"
    )


# -- Deel ----------------------------------------------------------------------------------


def test_a_deel_end_date_of_9999_12_31_is_more_than_10_years_ahead() -> None:
    reason = refused(deel.normalize, deel_approval(end_date="9999-12-31"), NOW)
    assert reason == "data.resource.end_date: 9999-12-31 is more than 10 years after 2025-06-01"


def test_a_deel_start_date_of_0001_01_01_is_more_than_5_years_back() -> None:
    reason = refused(deel.normalize, deel_approval(start_date="0001-01-01"), NOW)
    assert reason == "data.resource.start_date: 0001-01-01 is more than 5 years before 2025-06-01"


def test_a_deel_end_date_before_the_start_date_is_refused() -> None:
    reason = refused(deel.normalize, deel_approval(start_date="2025-06-13", end_date="2025-06-09"), NOW)
    assert reason == "data.resource.end_date: 2025-06-09 is before start_date 2025-06-13"


def test_deel_dates_just_inside_the_bounds_are_accepted() -> None:
    [event] = deel.normalize(deel_approval(start_date="2020-06-01", end_date="2035-06-01"), NOW)
    assert (event.payload["start_date"], event.payload["end_date"]) == ("2020-06-01", "2035-06-01")


def test_a_deel_request_id_over_255_characters_is_refused_naming_it() -> None:
    reason = refused(deel.normalize, deel_approval(id=LONG_ID), NOW)
    assert reason == "data.resource.id: longer than 255 characters"


def test_a_deel_updated_at_with_no_utc_equivalent_is_out_of_range() -> None:
    reason = refused(deel.normalize, deel_approval(updated_at="0001-01-01T00:00:00+05:00"), NOW)
    assert reason == "data.resource.updated_at: 0001-01-01T00:00:00+05:00 is out of range"


# -- Vitally -------------------------------------------------------------------------------


def test_a_vitally_account_id_over_255_characters_is_refused_naming_it() -> None:
    playbook = body("vitally_playbook_webhook_UNCONFIRMED.json")
    playbook["match"]["account"]["id"] = LONG_ID
    assert refused(vitally.normalize, playbook, NOW) == (
        "match.account.id: String should have at most 255 characters"
    )


def test_a_vitally_updated_at_with_no_utc_equivalent_is_out_of_range() -> None:
    playbook = body("vitally_playbook_webhook_UNCONFIRMED.json")
    playbook["match"]["account"]["updatedAt"] = "0001-01-01T00:00:00+05:00"
    assert refused(vitally.normalize, playbook, NOW) == (
        "match.account.updatedAt: 0001-01-01 00:00:00+05:00 is out of range"
    )


# -- reading a vendor's answer (shared.sources.http) ---------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_credential_is_a_configuration_error_naming_what_to_fix(status: int) -> None:
    answer = httpx.Response(status, json={"error": "unauthorized"})
    with pytest.raises(ConfigurationError) as caught:
        json_object("Vitally", "account a1", answer, credential="TAOPS_VITALLY_API_KEY")
    assert caught.value.code == "vitally-credentials"
    assert caught.value.reason == (
        f"Vitally refused our credentials for account a1 ({status}): "
        "check TAOPS_VITALLY_API_KEY and its scopes"
    )


def test_a_google_403_for_a_rate_limit_is_transient_not_a_configuration_fault() -> None:
    answer = httpx.Response(
        403,
        json={
            "error": {
                "code": 403,
                "errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded"}],
                "message": "User Rate Limit Exceeded",
            }
        },
    )
    with pytest.raises(TransientError, match="answered 403"):
        json_object("Gmail", "history", answer)


@pytest.mark.parametrize("answer", [httpx.Response(200, text="<html>"), httpx.Response(200, json=[1])])
def test_a_200_that_is_not_a_json_object_is_transient(answer: httpx.Response) -> None:
    with pytest.raises(TransientError, match="body that is not a JSON object"):
        json_object("Vitally", "account a1", answer)
