from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from shared.exceptions import PolicyError
from shared.models import Segment
from shared.policy import DEFAULT_POLICY_PATH, load_policy, parse_policy


def _default() -> dict:
    return yaml.safe_load(DEFAULT_POLICY_PATH.read_text())


def test_the_bundled_policy_carries_the_handbook_defaults(policy) -> None:
    assert policy.group_mail.sla_hours == 48
    assert policy.renewal.process_starts_days_before == 120
    assert policy.scaled_success.seat_alert_percents == [90, 100]
    assert policy.contact.staleness_days == 30
    assert policy.calendar.fiscal_year_start_month == 2
    tiers = {t.name: t for t in policy.segmentation.tiers}
    assert tiers[Segment.STRATEGIC].min_developers == 10_000
    assert tiers[Segment.ENTERPRISE].min_developers == 1_500
    assert tiers[Segment.COMMERCIAL].unmanaged_from_arr == 100_000
    assert {c.job for c in policy.cadences} >= {
        "mbr-reminder",
        "qbr-reminder",
        "health-traits",
        "weekly-digest",
    }


def test_an_invalid_policy_lists_every_bad_field_by_dotted_path() -> None:
    data = _default()
    data["group_mail"]["sla_hours"] = -1
    data["health"]["red_below"] = "low"
    data["cadences"][0]["schedule"] = "every monday"
    data["calendar"]["fiscal_year_start_month"] = 13
    data["coverage"]["share_at"] = "whenever"
    with pytest.raises(PolicyError) as err:
        parse_policy(data, "bad.yaml")
    problems = err.value.problems
    for path in (
        "group_mail.sla_hours",
        "health.red_below",
        "cadences[0].schedule",
        "calendar.fiscal_year_start_month",
        "coverage.share_at",
    ):
        assert any(p.startswith(path + ":") for p in problems), (path, problems)
    assert "bad.yaml" in str(err.value)


def test_a_missing_section_and_an_unknown_key_are_both_named() -> None:
    data = _default()
    del data["renewal"]
    data["health"]["debounse_hours"] = 1
    with pytest.raises(PolicyError) as err:
        parse_policy(data)
    assert any(p.startswith("renewal:") for p in err.value.problems)
    assert any(p.startswith("health.debounse_hours:") for p in err.value.problems)


def test_an_escalation_ladder_that_does_not_climb_is_refused() -> None:
    data = _default()
    data["group_mail"]["escalation_ladder"][1]["after_hours"] = 10
    with pytest.raises(PolicyError) as err:
        parse_policy(data)
    assert any(p.startswith("group_mail:") and "strictly increase" in p for p in err.value.problems)


def test_a_reminder_that_would_come_after_the_first_escalation_is_refused() -> None:
    data = _default()
    data["group_mail"]["sla_hours"] = 60  # the reminder at 48, when step 1 already goes
    with pytest.raises(PolicyError) as err:
        parse_policy(data)
    assert any("must come before the first ladder step" in p for p in err.value.problems)


def test_the_sla_clock_is_one_of_three_and_working_days_by_default(policy) -> None:
    assert policy.group_mail.sla_clock == "working_days"
    data = _default()
    data["group_mail"]["sla_clock"] = "lunar"
    with pytest.raises(PolicyError) as err:
        parse_policy(data)
    assert any(p.startswith("group_mail.sla_clock:") for p in err.value.problems)


def test_duplicate_cadence_jobs_are_refused() -> None:
    data = _default()
    data["cadences"].append(dict(data["cadences"][0]))
    with pytest.raises(PolicyError, match="mbr-reminder"):
        parse_policy(data)


def test_taops_policy_environment_variable_overrides_the_default(tmp_path: Path, monkeypatch) -> None:
    data = _default()
    data["group_mail"]["sla_hours"] = 24
    custom = tmp_path / "policy.yaml"
    custom.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("TAOPS_POLICY", str(custom))
    assert load_policy().group_mail.sla_hours == 24
    assert load_policy(DEFAULT_POLICY_PATH).group_mail.sla_hours == 48


def test_a_policy_that_is_not_yaml_fails_with_the_file_named(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("health: [unclosed\n")
    with pytest.raises(PolicyError) as err:
        load_policy(bad)
    assert str(bad) in str(err.value) and "not valid YAML" in str(err.value)
