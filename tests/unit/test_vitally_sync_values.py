"""Reading the fields Vitally owns off an account object, and what they change in the book
(``shared.sources.vitally_sync.observe``, ``shared.rules.book_sync``): pure, no network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from shared.exceptions import PolicyError
from shared.policy import DEFAULT_POLICY_PATH, parse_policy
from shared.rules.book_sync import describe, field_changes, score_change
from shared.sources.vitally_sync import observe
from tests.vitally_pages import account

NOW = datetime(2026, 11, 22, 9, 20, tzinfo=UTC)
TRAITS = {
    "seats_used": "seats_used",
    "seats_licensed": "seats_licensed",
    "deployed_version": "deployed_version",
    "versions_behind": "versions_behind",
    "last_contact": "lastOutboundMessageTimestamp",
    "slack_last_activity": "vitally.custom.slackLastMessageAt",
    "open_tickets": "open_tickets",
}


def test_counts_versions_and_times_are_read_into_the_books_stored_form() -> None:
    body = account(
        "vit-1",
        "One",
        traits={
            "seats_used": "92",
            "seats_licensed": 100.0,
            "deployed_version": 5.2,
            "versions_behind": 0,
            "vitally.custom.slackLastMessageAt": "2026-11-21T18:30:00-05:00",
            "open_tickets": 3,
        },
        lastOutboundMessageTimestamp="2026-11-20T23:30:00-05:00",
    )
    values, problems = observe(body, TRAITS, NOW)
    assert problems == []
    assert values == {
        "seats_used": 92,
        "seats_licensed": 100,
        "deployed_version": "5.2",
        "versions_behind": 0,
        "last_contact": "2026-11-21",  # a timestamp counts by its date in UTC
        "slack_last_activity": "2026-11-21T23:30:00Z",
        "open_tickets": 3,
    }


def test_a_trait_that_is_missing_or_null_is_simply_not_there() -> None:
    body = account("vit-1", "One", traits={"seats_used": None})
    values, problems = observe(body, TRAITS, NOW)
    assert values == {} and problems == []


def test_a_trait_is_read_before_a_field_of_the_same_name_on_the_account() -> None:
    body = account("vit-1", "One", traits={"usersCount": 7}, usersCount=184)
    assert observe(body, {"seats_used": "usersCount"}, NOW)[0] == {"seats_used": 7}
    del body["traits"]["usersCount"]
    assert observe(body, {"seats_used": "usersCount"}, NOW)[0] == {"seats_used": 184}


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("seats_used", True, "True is not a whole number"),
        ("seats_used", -1, "-1 is out of range"),
        ("seats_used", 12.5, "'12.5' is not a whole number"),
        ("seats_used", "lots", "'lots' is not a whole number"),
        ("deployed_version", {"major": 5}, "is not a version"),
        ("slack_last_activity", "yesterday", "'yesterday' is not an ISO-8601 date or time"),
        ("slack_last_activity", "2099-01-01T00:00:00Z", "is in the future"),
        ("slack_last_activity", 1764000000000, "is not an ISO-8601 date or time"),
    ],
)
def test_a_value_that_cannot_be_read_is_named_with_its_trait_and_left_out(
    field: str, value: object, problem: str
) -> None:
    body = account("vit-1", "One", traits={TRAITS[field]: value, "open_tickets": 1})
    values, problems = observe(body, TRAITS, NOW)
    assert values == {"open_tickets": 1}
    [line] = problems
    assert line.startswith(f"traits.{TRAITS[field]} ({field}): ") and problem in line


def test_only_fields_that_differ_are_changes() -> None:
    book = {"seats_used": 90, "open_tickets": 0, "deployed_version": "5.1", "health_score": 6.0}
    seen = {"seats_used": 95, "open_tickets": 0, "deployed_version": "5.1"}
    assert field_changes(book, seen) == {"seats_used": (90, 95)}
    assert field_changes(book, {"seats_used": 90}) == {}
    assert score_change(book, 6.0) is None and score_change(book, 3.5) == (6.0, 3.5)
    assert score_change(book, None) is None


def test_last_dates_never_go_back() -> None:
    book = {"last_contact": "2026-11-02", "slack_last_activity": "2026-11-20T15:00:00Z"}
    older = {"last_contact": "2026-10-30", "slack_last_activity": "2026-11-20T14:59:59Z"}
    same = {"last_contact": "2026-11-02", "slack_last_activity": "2026-11-20T15:00:00+00:00"}
    newer = {"last_contact": "2026-11-03", "slack_last_activity": "2026-11-20T15:00:01Z"}
    assert field_changes(book, older) == {} == field_changes(book, same)
    assert field_changes(book, newer) == {
        "last_contact": ("2026-11-02", "2026-11-03"),
        "slack_last_activity": ("2026-11-20T15:00:00Z", "2026-11-20T15:00:01Z"),
    }
    assert field_changes({}, newer) == {k: (None, v) for k, v in newer.items()}


def test_changes_are_described_old_to_new() -> None:
    text = describe(
        {"health_score": (8.1, 3.25), "seats_used": (11000, 11800), "deployed_version": (None, "5")}
    )
    assert text == "health score 8.1 → 3.25, seats used 11000 → 11800, deployed version unset → 5"


def _policy_data() -> dict:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def test_the_trait_map_defaults_each_field_and_null_leaves_it_to_the_book() -> None:
    data = _policy_data()
    del data["vitally"]["traits"]["seats_used"]
    data["vitally"]["traits"]["open_tickets"] = None
    mapped = parse_policy(data).vitally.traits.mapped()
    assert mapped["seats_used"] == "seats_used" and mapped["last_contact"] == "lastOutboundMessageTimestamp"
    assert "open_tickets" not in mapped
    del data["vitally"]
    assert parse_policy(data).vitally.traits.mapped()["versions_behind"] == "versions_behind"


def test_a_bad_vitally_section_names_each_bad_field_by_path() -> None:
    data = _policy_data()
    data["vitally"]["traits"]["seats_usd"] = "seats"
    data["vitally"]["traits"]["open_tickets"] = ""
    data["vitally"]["page_size"] = 500
    with pytest.raises(PolicyError) as err:
        parse_policy(data, "bad.yaml")
    problems = err.value.problems
    for path in ("vitally.traits.seats_usd", "vitally.traits.open_tickets", "vitally.page_size"):
        assert any(p.startswith(path + ":") for p in problems), (path, problems)
