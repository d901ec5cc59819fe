from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.exceptions import PermanentError
from shared.sources import vitally

EVENTS = Path(__file__).resolve().parents[1] / "events"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def body(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def test_a_playbook_body_gives_the_account_ids_score_and_flattened_traits() -> None:
    [event] = vitally.normalize(body("vitally_playbook_webhook_UNCONFIRMED.json"), NOW)
    assert event.type == "health.changed" and event.source == "vitally"
    assert event.payload["vitally_id"] == "3f8a2b1c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    assert event.payload["external_id"] == "acct_10482"
    assert event.payload["health_score"] == 3.9
    assert event.payload["traits"] == {"plan": "Enterprise", "region": "EMEA"}
    assert event.source_version is None  # a playbook ping carries no version


def test_a_bare_account_object_is_accepted_and_versioned_by_updated_at() -> None:
    [event] = vitally.normalize(body("vitally_account_object.json"), NOW)
    assert event.payload["health_score"] == 6.4
    assert event.payload["traits"]["vitally.custom.renewalRisk"] == "Medium"
    assert event.source_version == datetime(2025, 5, 28, 7, 1, 44, 903000, tzinfo=UTC)


def test_the_same_ping_retried_within_the_hour_has_one_event_id() -> None:
    ping = body("vitally_playbook_webhook_UNCONFIRMED.json")
    a = vitally.normalize(ping, NOW.replace(minute=2))[0]
    b = vitally.normalize(ping, NOW.replace(minute=41))[0]
    assert a.event_id == b.event_id


def test_the_same_score_observed_in_a_later_hour_is_a_new_event() -> None:
    ping = body("vitally_playbook_webhook_UNCONFIRMED.json")
    a = vitally.normalize(ping, NOW)[0]
    b = vitally.normalize(ping, NOW.replace(hour=3))[0]
    assert a.event_id != b.event_id


def test_vitallys_own_timestamp_decides_identity_whenever_it_arrives() -> None:
    account = body("vitally_account_object.json")
    a = vitally.normalize(account, NOW)[0]
    b = vitally.normalize(account, datetime(2025, 7, 1, tzinfo=UTC))[0]
    assert a.event_id == b.event_id


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"match": {"account": {"healthScore": 5}}}, "match.account.id"),
        ({"match": {"account": {"id": "a", "healthScore": 42}}}, "match.account.healthScore"),
        ([1, 2], "body"),
    ],
)
def test_a_body_without_a_usable_account_names_the_field(data, field: str) -> None:
    with pytest.raises(PermanentError) as err:
        vitally.normalize(data, NOW)
    assert err.value.reason.startswith(field + ":")


def test_token_comparison_refuses_missing_values() -> None:
    assert vitally.token_matches("s3cret", "s3cret")
    assert not vitally.token_matches("s3cret", None)
    assert not vitally.token_matches(None, "s3cret")
    assert not vitally.token_matches("guess", "s3cret")
