"""Salesforce Outbound Messages and CDC events normalised to renewal-changed events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.exceptions import PermanentError
from shared.sources import salesforce as sf

EVENTS = Path(__file__).resolve().parents[1] / "events"
NOW = datetime(2025, 6, 1, tzinfo=UTC)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&lol9;</OrganizationId></notifications>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&xxe;</OrganizationId></notifications>"""


def raw(name: str) -> bytes:
    return (EVENTS / name).read_bytes()


def test_an_outbound_message_with_two_notifications_gives_two_events() -> None:
    notes = sf.parse_outbound_message(raw("salesforce_outbound_message_two_notifications.xml"))
    assert sf.outbound_org_id(notes) == "00D5e000000KQ2eEAG"
    first, second = sf.normalize_outbound_message(notes, NOW)
    assert first.event_id == "04l5e00000Gx7QzAAJ" and second.event_id == "04l5e00000Gx7R0AAJ"
    assert first.payload["opportunity_id"] == "0065e00000KqLm2AAF"
    assert first.payload["account_salesforce_id"] == "0015e00000ZkM3hAAF"
    assert (first.payload["stage"], first.payload["close_date"], first.payload["amount"]) == (
        "Negotiation/Review",
        "2025-06-30",
        150000.0,
    )
    assert first.payload["type"] == "Existing Customer - Upgrade"
    assert first.source_version is None  # this message did not include LastModifiedDate
    assert second.payload["type"] == "Renewal"
    assert second.source_version == datetime(2025, 5, 30, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "name",
    [
        "salesforce_cdc_opportunity_update_cometd.json",
        "salesforce_cdc_opportunity_update_cometd_bayeux_wrapper.json",
        "salesforce_cdc_opportunity_update_pubsub_decoded.json",
    ],
)
def test_each_cdc_shape_gives_an_event_versioned_by_commit_time(name: str) -> None:
    [event] = sf.normalize_cdc(json.loads(raw(name)), NOW)
    assert event.entity_key == "opportunity:0065e00000KqLm2AAF"
    assert event.source_version == datetime(2024, 5, 30, 9, 0, tzinfo=UTC)
    assert event.payload["stage"] in ("Negotiation/Review", "Closed Won")


def test_cdc_changed_fields_come_from_the_header_or_else_the_body() -> None:
    [named] = sf.normalize_cdc(json.loads(raw("salesforce_cdc_opportunity_update_cometd.json")), NOW)
    assert named.payload["changed_fields"] == ["Amount", "CloseDate", "LastModifiedDate", "StageName"]
    [bitmap] = sf.normalize_cdc(json.loads(raw("salesforce_cdc_opportunity_update_pubsub_decoded.json")), NOW)
    assert bitmap.payload["changed_fields"] == ["Amount", "CloseDate", "LastModifiedDate", "StageName"]
    assert bitmap.payload["close_date"] == "2025-06-30"  # epoch milliseconds in the Pub/Sub API


def test_a_cdc_event_of_another_object_or_a_gap_is_ignored() -> None:
    body = json.loads(raw("salesforce_cdc_opportunity_update_cometd.json"))
    body["payload"]["ChangeEventHeader"]["entityName"] = "Account"
    assert sf.normalize_cdc(body, NOW) == []
    body["payload"]["ChangeEventHeader"].update(entityName="Opportunity", changeType="GAP_UPDATE")
    assert sf.normalize_cdc(body, NOW) == []


def test_a_cdc_event_without_record_ids_names_the_field() -> None:
    body = json.loads(raw("salesforce_cdc_opportunity_update_cometd.json"))
    body["payload"]["ChangeEventHeader"]["recordIds"] = []
    with pytest.raises(PermanentError, match=r"ChangeEventHeader\.recordIds"):
        sf.normalize_cdc(body, NOW)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entity_expansion_and_external_entities_are_refused_before_expanding(body: bytes) -> None:
    # defusedxml refuses at the DTD, so nothing is expanded or fetched (no timing needed).
    with pytest.raises(PermanentError, match=r"refused XML \(DTDForbidden\)"):
        sf.parse_outbound_message(body)


def test_malformed_xml_names_the_problem() -> None:
    with pytest.raises(PermanentError, match="not well-formed"):
        sf.parse_outbound_message(b"<notifications><unclosed></notifications>")


def test_org_ids_match_on_their_first_15_characters() -> None:
    assert sf.same_org("00D5e000000KQ2eEAG", ["00D5e000000KQ2e"])
    assert sf.same_org("00D5e000000KQ2e", [" 00D5e000000KQ2eEAG", ""])
    assert not sf.same_org("00D5e000000KQ2E", ["00D5e000000KQ2e"])
    assert not sf.same_org("00D5e000000KQ2e", [])
