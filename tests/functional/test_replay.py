"""`taops replay` on the committed scenario (examples/replay/events.jsonl with
examples/book.json): the exact actions, the final state, byte-identical reruns, and
each class of bad line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.cli import main as taops

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "examples" / "replay" / "events.jsonl"
BOOK = ROOT / "examples" / "book.json"


def run(tmp_path: Path, events: Path = EVENTS, *extra: str) -> tuple[int, Path, Path]:
    actions, state = tmp_path / "actions.jsonl", tmp_path / "state.json"
    code = taops(
        [
            "replay",
            str(events),
            "--book",
            str(BOOK),
            "--actions-out",
            str(actions),
            "--state-out",
            str(state),
            *extra,
        ]
    )
    return code, actions, state


def test_the_scenario_gives_exactly_these_actions(tmp_path: Path) -> None:
    code, actions_file, _ = run(tmp_path)
    assert code == 0
    actions = [json.loads(line) for line in actions_file.read_text().splitlines()]
    summary = [(a["kind"], a["recipients"], a["not_before"], a["status"]) for a in actions]
    assert summary == [
        ("slack.message", ["ana@example.com"], None, "delivered"),  # the draft, one message each
        ("slack.message", ["mara@example.com"], None, "delivered"),
        ("slack.message", ["ana@example.com"], None, "delivered"),  # the shared plan
        ("slack.message", ["mara@example.com"], None, "delivered"),
        ("slack.message", ["alex@example.com"], None, "delivered"),
        ("slack.message", ["cole@example.com"], None, "delivered"),
        ("email.send", ["ivy@example.com"], None, "delivered"),
        ("slack.message", ["ben@example.com"], None, "delivered"),
        ("vitally.task", ["ana@example.com"], None, "delivered"),
        ("calendar.review", ["ana@example.com"], None, "delivered"),
        ("gmail.vacation", ["ana@example.com"], None, "delivered"),
        ("slack.status", ["ana@example.com"], "2026-12-13T23:00:00Z", "delivered"),
        ("email.send", ["jo@acme.test"], "2026-12-09T08:00:00Z", "delivered"),  # 09:00 in Berlin
    ]
    assert all(a["dry_run"] is True for a in actions)
    status = next(a for a in actions if a["kind"] == "slack.status")
    assert status["delivered_at"] == "2026-12-14T00:00:00Z"  # released by the tick after its not_before
    assert status["idempotency_key"] == "ooo:pto-ana-dec:slack-status:2026-12-14:2026-12-18"
    task = next(a for a in actions if a["kind"] == "vitally.task")
    assert (task["account_id"], task["due_date"]) == ("acme", "2026-12-11")
    assert task["reason"].startswith("Acme Corp renews 2026-12-18, inside the absence")


def test_the_final_state_holds_the_plan_the_health_change_the_renewal_and_the_thread(tmp_path: Path) -> None:
    _, _, state_file = run(tmp_path)
    state = json.loads(state_file.read_text())
    plan = state["coverage_plans"]["pto-ana-dec"]
    assert plan["status"] == "shared"
    assert plan["items"] == [
        {"account_id": "acme", "reasons": ["renewing"], "cover": "ben@example.com"},
        {"account_id": "globex", "reasons": ["lighthouse"], "cover": "ben@example.com"},
    ]
    [change] = state["health_changes"].values()
    assert (change["account_id"], change["old_category"], change["new_category"]) == ("acme", "green", "red")
    assert state["accounts"]["globex"]["renewal_date"] == "2027-04-15"
    [thread] = state["mail_threads"].values()
    assert thread["customer_address"] == "jo@acme.test" and thread["waiting_since"] is not None


def test_two_runs_write_identical_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _, a_actions, a_state = run(first)
    _, b_actions, b_state = run(second)
    assert a_actions.read_bytes() == b_actions.read_bytes()
    assert a_state.read_bytes() == b_state.read_bytes()


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "line 8: not JSON"),
        ('{"at": "2026-12-15T00:00:00Z", "source": "zendesk", "payload": {}}', "line 8: source: 'zendesk'"),
        ('{"at": "2026-12-15T00:00:00Z", "source": "tick"}', "line 8: payload: missing"),
        (
            '{"at": "2026-12-01T00:00:00Z", "source": "tick", "payload": {"job": "x"}}',
            "line 8: at: 2026-12-01",
        ),
        ('{"at": "2026-12-15", "source": "tick", "payload": {}}', "line 8: at: needs a time zone"),
        (
            '{"at": "2026-12-15T00:00:00Z", "source": "deel", "payload": {"data": {"meta": {"event_type": '
            '"time-off.created"}, "resource": {"id": "x", "status": "MAYBE"}}}}',
            "line 8: data.resource.start_date",
        ),
        (
            '{"at": "2026-12-15T00:00:00Z", "source": "deel", "payload": {"data": {"meta": {"event_type": '
            '"time-off.created"}, "resource": {"id": "x", "status": "APPROVED", "start_date": "2026-12-20", '
            '"end_date": "9999-12-31", "requester": {"work_email": "ana@example.com"}}}}}',
            "line 8: data.resource.end_date: 9999-12-31 is more than 10 years after",
        ),
        (
            '{"at": "2026-12-15T00:00:00Z", "source": "tick", "payload": {"job": "no-such-job"}}',
            "line 8: no reaction for job 'no-such-job'",
        ),
    ],
)
def test_a_bad_line_stops_the_replay_naming_it_and_writes_nothing(
    tmp_path: Path, capsys, bad_line, message
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(EVENTS.read_text() + bad_line + "\n")
    code, actions, state = run(tmp_path, events)
    assert code == 1
    assert message in capsys.readouterr().err
    assert not actions.exists() and not state.exists()


def test_keep_going_reports_each_skipped_line_and_replays_the_rest(tmp_path: Path, capsys) -> None:
    events = tmp_path / "events.jsonl"
    lines = EVENTS.read_text().splitlines()
    events.write_text("\n".join([lines[0], "{oops", *lines[1:], '{"at": "2026-12-20T00:00:00Z"}']) + "\n")
    code, actions, _ = run(tmp_path, events, "--keep-going")
    assert code == 0
    err = capsys.readouterr().err
    assert "skipped line 2: not JSON" in err and "skipped line 9: source: missing" in err
    assert len(actions.read_text().splitlines()) == 13


def test_json_summary(tmp_path: Path, capsys) -> None:
    assert taops(["replay", str(EVENTS), "--book", str(BOOK), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"lines": 7, "actions": 13, "skipped": [], "outcomes": {"applied": 7}}


def test_with_the_scheduler_the_unanswered_thread_climbs_the_ladder_on_the_simulated_clock(
    tmp_path: Path,
) -> None:
    code, actions_file, state_file = run(tmp_path, EVENTS, "--scheduler", "--until", "2026-12-15T00:00:00Z")
    assert code == 0
    actions = [json.loads(line) for line in actions_file.read_text().splitlines()]
    ladder = [
        (a["sla_level"], a["recipients"], a["not_before"]) for a in actions if a.get("cadence") == "sla"
    ]
    # Jo wrote on Sunday 29 Nov: the working-days clock starts Monday 00:00 in Berlin (Ana's).
    assert ladder == [
        (0, ["ana@example.com"], None),  # Tue 1 Dec 12:00 Berlin, at work
        (1, ["ana@example.com"], "2026-12-02T08:00:00Z"),  # breached at midnight: held for 09:00
        (2, ["mara@example.com"], None),
        (3, ["dana@example.com"], "2026-12-03T15:00:00Z"),  # 09:00 in Chicago
    ]
    state = json.loads(state_file.read_text())
    [thread] = state["mail_threads"].values()
    assert (thread["waiting"], thread["sla_level"]) == (True, 3)
    # Without --scheduler nothing ticks but the file's own lines: no SLA step is taken.
    code, plain, _ = run(tmp_path, EVENTS)
    assert not [line for line in plain.read_text().splitlines() if '"cadence": "sla"' in line]


def test_taops_mailbox_lists_waiting_threads_soonest_first_with_time_left_and_level(
    tmp_path: Path, capsys
) -> None:
    from shared.book import parse_book
    from shared.policy import load_policy
    from shared.replay import replay
    from shared.store import EmbeddedStore

    path = tmp_path / "state.json"
    lines = EVENTS.read_text().splitlines()[:5]  # up to Jo's message, Sunday 29 Nov
    replay(lines, parse_book(json.loads(BOOK.read_text())), load_policy(), store=EmbeddedStore(path))
    capsys.readouterr()
    assert taops(["mailbox", "--store", f"embedded:{path}", "--at", "2026-12-01T11:00:00+00:00"]) == 0
    out = capsys.readouterr().out.splitlines()
    # Deadline Wed 00:00 in Berlin; at Tue 12:00 Berlin 12 working hours are left.
    assert out[1].split()[:4] == ["2026-12-01T23:00", "12h00", "-", "acme"]
    assert "ana@example.com" in out[1] and "Upgrade window before the holidays? / jo@acme.test" in out[1]
    assert out[-1].startswith("1 thread(s) waiting for the team, 0 past the 48-hour SLA")
    assert (
        taops(["mailbox", "--store", f"embedded:{path}", "--at", "2026-12-02T12:00:00+00:00", "--json"]) == 0
    )
    [row] = json.loads(capsys.readouterr().out)
    assert (row["time_left_hours"], row["sla_level"], row["next_sla_level"]) == (-13.0, None, 0)


def test_replay_leaves_the_cycle_collectors_setting_as_it_found_it(tmp_path: Path) -> None:
    import gc

    before = gc.get_threshold()
    assert run(tmp_path)[0] == 0
    assert gc.get_threshold() == before
    gc.set_threshold(200_000, *before[1:])  # a caller's own, higher setting is kept too
    try:
        assert run(tmp_path)[0] == 0
        assert gc.get_threshold() == (200_000, *before[1:])
    finally:
        gc.set_threshold(*before)
