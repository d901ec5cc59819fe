"""A Vitally playbook ping that carries the account's seat traits (flattened on
``match.account``, the shape ``vendors/README.md`` describes) changes the seats at once:
besides its health event it stands for an ``account.traits`` event, as the hourly sync
makes. Other traits wait for the sync."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import respx

from shared.sources import vitally
from shared.sources.vitally_sync import TRAITS_EVENT_TYPE

NOW = datetime(2026, 11, 3, 15, 0, tzinfo=UTC)


def ping(**traits: object) -> dict:
    return {"match": {"account": {"id": "vit-umbra", "externalId": "umbra", "healthScore": 7.5, **traits}}}


def test_a_ping_with_seat_traits_is_also_a_traits_event_of_the_seats_only(policy) -> None:
    names = policy.vitally.traits.mapped()
    health, seats = vitally.normalize(ping(seats_used=920, seats_licensed="1000", open_tickets=4), NOW, names)
    assert health.type == "health.changed"
    assert seats.type == TRAITS_EVENT_TYPE and seats.entity_key == health.entity_key
    assert seats.payload == {
        "vitally_id": "vit-umbra",
        "external_id": "umbra",
        "name": None,
        "fields": {"seats_used": 920, "seats_licensed": 1000},
    }


def test_a_ping_without_seats_or_without_the_policys_names_is_the_health_event_alone(policy) -> None:
    assert [e.type for e in vitally.normalize(ping(open_tickets=4), NOW, policy.vitally.traits.mapped())] == [
        "health.changed"
    ]
    assert [e.type for e in vitally.normalize(ping(seats_used=920), NOW)] == ["health.changed"]


def test_an_unreadable_seat_count_is_left_to_the_sync_and_the_score_still_counts(policy) -> None:
    events = vitally.normalize(ping(seats_used="lots"), NOW, policy.vitally.traits.mapped())
    assert [e.type for e in events] == ["health.changed"]


def test_the_same_seats_in_a_later_ping_is_a_new_observation(policy) -> None:
    names = policy.vitally.traits.mapped()
    first = vitally.normalize(ping(seats_used=920), NOW, names)[1]
    later = vitally.normalize(ping(seats_used=920), NOW.replace(minute=5), names)[1]
    assert first.event_id != later.event_id  # 92% → 88% → 92% must not be dropped


def test_the_rest_refresh_re_reads_the_score_and_leaves_a_seats_event_as_sent(
    policy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TAOPS_VITALLY_API_KEY", "secret_key")
    monkeypatch.setenv("TAOPS_VITALLY_BASE_URL", "https://acme.rest.vitally.io")
    [_, seats] = vitally.normalize(ping(seats_used=920), NOW, policy.vitally.traits.mapped())
    with respx.mock:  # any request would fail the test
        with httpx.Client() as client:
            assert vitally.refreshed(seats, client) is seats
        assert not respx.mock.calls
