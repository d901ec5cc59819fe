"""Deel's time-off webhook bodies normalised to our PTO event (fixtures: tests/events/)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.exceptions import PermanentError
from shared.sources import deel

EVENTS = Path(__file__).resolve().parents[1] / "events"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def body(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_the_signature_is_hmac_sha256_over_post_and_the_raw_body() -> None:
    vector = body("deel_signature_test_vector_SELF_COMPUTED.json")
    raw = vector["raw_body"].encode()
    assert deel.signature(vector["signing_key"], raw) == vector["x-deel-signature"]
    assert deel.verify(raw, vector["x-deel-signature"].upper(), ["old-key", vector["signing_key"]])
    assert not deel.verify(raw + b" ", vector["x-deel-signature"], [vector["signing_key"]])
    assert not deel.verify(raw, None, [vector["signing_key"]])
    assert not deel.verify(raw, vector["x-deel-signature"], [])


def test_a_created_request_becomes_a_requested_pto_event() -> None:
    [event] = deel.normalize(body("deel_time_off_created.json"), NOW)
    assert event.type == "pto.logged" and event.entity_key == "absence:7b1f0d4e-2c9a-4f6e-9a1b-3d2e5f6a7b8c"
    assert event.payload["status"] == "REQUESTED"
    assert event.payload["requester_email"] == "jane.advisor@acme.example"
    assert (event.payload["start_date"], event.payload["end_date"]) == ("2025-06-09", "2025-06-13")
    assert event.source_version == datetime(2025, 5, 20, 14, 2, 11, tzinfo=UTC)


def test_approval_and_cancellation_carry_their_status_and_newer_versions() -> None:
    [created] = deel.normalize(body("deel_time_off_created.json"), NOW)
    [approved] = deel.normalize(body("deel_time_off_reviewed_approved.json"), NOW)
    [canceled] = deel.normalize(body("deel_time_off_updated_canceled.json"), NOW)
    assert approved.payload["status"] == "APPROVED" and canceled.payload["status"] == "CANCELED"
    assert created.source_version < approved.source_version < canceled.source_version
    assert len({created.event_id, approved.event_id, canceled.event_id}) == 3


def test_a_deletion_names_the_request_and_cancels_it() -> None:
    [event] = deel.normalize(body("deel_time_off_deleted_PARTIAL.json"), NOW)
    assert event.payload["status"] == "CANCELED" and event.payload["deel_event"] == "time-off.deleted"
    assert event.entity_key == "absence:7b1f0d4e-2c9a-4f6e-9a1b-3d2e5f6a7b8c"
    assert event.source_version == datetime(2025, 6, 2, 16, 41, tzinfo=UTC)


def test_the_older_unwrapped_envelope_and_a_resource_list_give_the_same_event() -> None:
    wrapped = body("deel_time_off_created.json")
    unwrapped = {**wrapped["data"], "timestamp": wrapped["timestamp"]}
    listed = {
        "data": {**wrapped["data"], "resource": [wrapped["data"]["resource"]]},
        "timestamp": wrapped["timestamp"],
    }
    [a] = deel.normalize(wrapped, NOW)
    [b] = deel.normalize(unwrapped, NOW)
    [c] = deel.normalize(listed, NOW)
    assert a == b == c


def test_a_redelivery_has_the_same_event_id() -> None:
    first = deel.normalize(body("deel_time_off_reviewed_approved.json"), NOW)
    again = deel.normalize(body("deel_time_off_reviewed_approved.json"), datetime(2025, 6, 1, 1, tzinfo=UTC))
    assert first[0].event_id == again[0].event_id


def test_half_days_and_date_times_are_read() -> None:
    data = body("deel_time_off_created.json")
    data["data"]["resource"].update(start_date="2025-06-09T00:00:00.000Z", start_date_is_half_day=True)
    [event] = deel.normalize(data, NOW)
    assert event.payload["start_date"] == "2025-06-09" and event.payload["start_half_day"] is True


def test_other_deel_events_are_ignored() -> None:
    assert deel.normalize(body("deel_generic_envelope_doc_example.json"), NOW) == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.pop("start_date"), "data.resource.start_date"),
        (lambda r: r.update(status="MAYBE"), "data.resource.status"),
        (lambda r: r.update(end_date="soon"), "data.resource.end_date"),
    ],
)
def test_a_bad_time_off_names_the_field(change, field: str) -> None:
    data = body("deel_time_off_created.json")
    change(data["data"]["resource"])
    with pytest.raises(PermanentError) as err:
        deel.normalize(data, NOW)
    assert err.value.reason.startswith(field + ":")


def test_a_body_without_meta_is_refused() -> None:
    with pytest.raises(PermanentError, match="meta"):
        deel.normalize({"data": {"resource": {}}}, NOW)
