"""`taops cadences --at`: what each enabled cadence job would do at a moment, and why,
decided on the configured store and written nowhere — the way an operations engineer
checks a schedule before enabling it.

The store is the state a replay leaves after Monday 30 November 2026's contact-check and
weekly-digest ticks (examples/book.json): Globex and Initech were reminded (no contact on
record), the week's digests went out; Acme Corp goes stale on 3 December."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shared.book import parse_book
from shared.cadences import MODULES
from shared.cli import main
from shared.policy import DEFAULT_POLICY_PATH
from shared.replay import dumps_state, replay
from tests.functional.test_digest import at
from tests.gmail_messages import line

OUTPUT = """\
cadences at 2026-12-03T09:30:00Z (a dry run on the configured store: nothing is written)
health-traits (0 9 * * 1-5 UTC; last tick 2026-12-03T09:00:00Z, next 2026-12-04T09:00:00Z): 3 due,\
 0 already done
  health-traits:acme:2026-12 (period 2026-12): 1 action(s)
    -> vitally.task to ana@example.com, at once
       why: the monthly health-trait update of Acme Corp for 2026-12: Pulse, Access to Buyer,\
 Active Champion; by 2026-12-04
    note: Acme Corp: trait update task to ana@example.com by 2026-12-04
  health-traits:globex:2026-12 (period 2026-12): 1 action(s)
    -> vitally.task to ana@example.com, at once
       why: the monthly health-trait update of Globex for 2026-12: Pulse, Access to Buyer, Active\
 Champion; by 2026-12-04
    note: Globex: trait update task to ana@example.com by 2026-12-04
  health-traits:initech:2026-12 (period 2026-12): 1 action(s)
    -> vitally.task to ben@example.com, at once
       why: the monthly health-trait update of Initech for 2026-12: Pulse, Access to Buyer, Active\
 Champion; by 2026-12-04
    note: Initech: trait update task to ben@example.com by 2026-12-04
contact-check (0 9 * * 1-5 UTC; last tick 2026-12-03T09:00:00Z, next 2026-12-04T09:00:00Z): 3 due,\
 2 already done
  contact:acme:2026-11-02 (period 2026-11-02): 1 action(s)
    -> slack.message to ana@example.com, at once
       why: Acme Corp was last contacted 31 days ago, on 2026-11-02 (channel not recorded): every\
 customer should hear from us at least every 30 days
    note: Acme Corp: last contact 2026-11-02, reminder to ana@example.com
  contact:globex:never (period never): already done
  contact:initech:never (period never): already done
weekly-digest (0 8 * * 1 UTC; last tick 2026-11-30T08:00:00Z, next 2026-12-07T08:00:00Z): 2 due, 2\
 already done
  digest:2026-W49:ana@example.com (period 2026-W49): already done
  digest:2026-W49:ben@example.com (period 2026-W49): already done
"""


@pytest.fixture
def policy_file(tmp_path: Path) -> str:
    """The bundled policy with only these three cadences on (others' may be enabled later)."""
    data = yaml.safe_load(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"))
    for cadence in data["cadences"]:
        if cadence["job"] in MODULES:
            cadence["enabled"] = cadence["job"] in ("health-traits", "contact-check", "weekly-digest")
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


@pytest.fixture
def state(tmp_path: Path, book_data, policy) -> Path:
    lines = [
        line(at("2026-11-30T09:00:00"), "tick", {"job": "contact-check"}),
        line(at("2026-11-30T09:00:10"), "tick", {"job": "weekly-digest"}),
    ]
    result = replay(lines, parse_book(book_data), policy)
    path = tmp_path / "state.json"
    path.write_text(dumps_state(result.state), encoding="utf-8")
    return path


def test_it_shows_what_each_enabled_cadence_would_do_and_writes_nothing(
    state: Path, policy_file: str, capsys
) -> None:
    before = state.read_bytes()
    args = [
        "cadences",
        "--at",
        "2026-12-03T09:30:00Z",
        "--store",
        f"embedded:{state}",
        "--policy",
        policy_file,
    ]
    assert main(args) == 0
    assert capsys.readouterr().out == OUTPUT
    assert state.read_bytes() == before
    # Asked again, the same: nothing it decided was kept.
    assert main(args) == 0
    assert capsys.readouterr().out == OUTPUT


def test_json_for_one_job_with_each_action_in_full(state: Path, capsys) -> None:
    before = state.read_bytes()
    args = [
        "cadences",
        "--at",
        "2026-12-07T08:00:00Z",
        "--store",
        f"embedded:{state}",
        "--job",
        "weekly-digest",
    ]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["at"] == "2026-12-07T08:00:00Z" and report["dry_run"] is True
    [job] = report["jobs"]
    assert (job["job"], job["enabled"], job["last_tick"], job["next_tick"]) == (
        "weekly-digest",
        True,
        "2026-12-07T08:00:00Z",
        "2026-12-14T08:00:00Z",
    )
    assert [(d["key"], d["done"]) for d in job["due"]] == [
        ("digest:2026-W50:ana@example.com", False),
        ("digest:2026-W50:ben@example.com", False),
    ]
    ben = job["due"][1]["actions"][0]
    assert ben == {
        "kind": "slack.message",
        "recipients": ["ben@example.com"],
        "channel": None,
        "not_before": "2026-12-07T17:00:00Z",
        "reason": "the Monday digest for the team meeting, week 2026-W50",
        "idempotency_key": "digest:2026-W50:ben@example.com",
        "cadence": "digest",
        "period": "2026-W50",
        "in_outbox": None,
    }
    assert job["due"][1]["notes"] == [
        "digest 2026-W50 to ben@example.com, held for their working hours until 2026-12-07 17:00 UTC: 0 out, "
        "0 waiting in the mailbox, 0 health changes, 0 entering renewal, 1 review week coming, 0 failed"
    ]
    assert state.read_bytes() == before


def test_a_job_that_is_not_a_cadence_or_a_bad_time_is_a_usage_error(state: Path, capsys) -> None:
    store = f"embedded:{state}"
    assert main(["cadences", "--job", "sla-check", "--store", store]) == 2
    from shared.cadences import MODULES

    assert f"no cadence 'sla-check' (known: {', '.join(sorted(MODULES))})" in capsys.readouterr().err
    assert main(["cadences", "--at", "Monday", "--store", store]) == 2
    assert "--at 'Monday' is not an ISO-8601 time" in capsys.readouterr().err


def test_a_reaction_whose_marker_expired_shows_its_action_already_in_the_outbox(
    state: Path, policy_file: str, capsys
) -> None:
    # Firestore's TTL drops processed-event markers after events.marker_retention_days; the
    # reaction's action is still in the outbox (its id is its key), so nothing would repeat.
    data = json.loads(state.read_text(encoding="utf-8"))
    data["processed_events"] = {
        k: v for k, v in data["processed_events"].items() if v["event_id"] != "contact:globex:never"
    }
    state.write_text(json.dumps(data), encoding="utf-8")
    args = [
        "cadences",
        "--at",
        "2026-12-03T09:30:00Z",
        "--store",
        f"embedded:{state}",
        "--job",
        "contact-check",
    ]
    assert main([*args, "--policy", policy_file]) == 0
    out = capsys.readouterr().out
    assert (
        "  contact:globex:never (period never): 1 action(s)\n"
        "    -> slack.message to ana@example.com, at once [already in the outbox: delivered]\n"
    ) in out
