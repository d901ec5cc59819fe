"""The policy's review sections (``mbr``, ``qbr``): the bundled values, and what a bad one
is told."""

from __future__ import annotations

from datetime import time

import pytest
import yaml

from shared.exceptions import PolicyError
from shared.policy import DEFAULT_POLICY_PATH, parse_policy


def _default() -> dict:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def test_the_bundled_policy_schedules_both_reminders_on_working_days(policy) -> None:
    assert (policy.mbr.remind_working_days_before, policy.qbr.remind_working_days_before) == (3, 5)
    assert policy.mbr.calendar_event is False and policy.mbr.event_time == time(10, 0)
    for job in ("mbr-reminder", "qbr-reminder"):
        cadence = policy.cadence(job)
        assert cadence is not None and cadence.enabled and cadence.schedule == "0 9 * * 1-5"


def test_a_policy_written_before_the_review_sections_takes_their_defaults() -> None:
    data = _default()
    del data["mbr"], data["qbr"]
    policy = parse_policy(data)
    assert (policy.mbr.remind_working_days_before, policy.qbr.remind_working_days_before) == (3, 5)


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("mbr", "remind_working_days_before", -1),
        ("mbr", "remind_working_days_before", 21),
        ("qbr", "remind_working_days_before", "soon"),
        ("mbr", "send_updates", "everyone"),
        ("mbr", "event_weekday", 7),
        ("mbr", "agenda", "long"),
    ],
)
def test_a_bad_review_field_is_named_by_its_path(section, field, value) -> None:
    data = _default()
    data[section][field] = value
    with pytest.raises(PolicyError) as err:
        parse_policy(data, "bad.yaml")
    assert any(p.startswith(f"{section}.{field}:") for p in err.value.problems), err.value.problems


def test_a_calendar_mbr_must_fit_in_business_hours() -> None:
    data = _default()
    data["mbr"].update(calendar_event=True, event_time="16:45")
    with pytest.raises(PolicyError) as err:
        parse_policy(data, "bad.yaml")
    assert any("mbr.event_time" in p and "business_hours" in p for p in err.value.problems)
    # The same time is fine while no event is made.
    data["mbr"]["calendar_event"] = False
    assert parse_policy(data).mbr.event_time == time(16, 45)
