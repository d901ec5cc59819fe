"""The operations view's answers in the terminal: `taops show plan`, `taops show account`,
`taops dead-letters` (and re-running one after its cause is fixed), `taops outbox` in time
order, `taops views rebuild`."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.cli import main as taops
from shared.dashboard.views import BOARD, VIEWS
from shared.dispatch import dispatch
from shared.processing import DEAD_LETTERS
from shared.sources import vitally
from shared.store import EmbeddedStore, open_store
from tests.dashboard_world import NOW, demo_state, write_state

AT = NOW.isoformat()


@pytest.fixture(scope="module")
def state(policy) -> dict[str, Any]:
    return demo_state(policy)


@pytest.fixture
def store_spec(tmp_path: Path, state) -> str:
    return f"embedded:{write_state(tmp_path / 'state.json', state)}"


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert taops([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_show_plan_lists_each_account_why_and_who_covers_with_the_actions(store_spec, capsys) -> None:
    data = run_json(capsys, "show", "plan", "pto-ana-jan", "--store", store_spec, "--at", AT)
    assert (data["name"], data["plan"]["status"]) == ("Ana Ruiz", "shared")
    assert data["items"] and all(i["cover_name"] and i["reasons"] for i in data["items"])
    kinds = [a["kind"] for a in data["actions"]]
    assert "slack.status" in kinds
    assert [a["status"] for a in data["actions"] if a["kind"] == "slack.status"] == ["pending"]
    times = [a["not_before"] or a["at"] for a in data["actions"]]
    assert times == sorted(times)
    assert taops(["show", "plan", "pto-ana-jan", "--store", store_spec, "--at", AT]) == 0
    assert "coverage plan pto-ana-jan" in capsys.readouterr().out


def test_show_account_has_its_team_health_renewal_waits_and_actions(store_spec, capsys) -> None:
    data = run_json(capsys, "show", "account", "globex", "--store", store_spec, "--at", AT)
    assert data["team"]["ta"] == {"email": "ben@example.com", "name": "Ben Cho"}
    assert data["account"]["lighthouse_active"] is True
    assert [(c["old_category"], c["new_category"]) for c in data["health_changes"]] == [("green", "red")]
    [wait] = data["waiting_threads"]
    assert wait["subject"] == "Data export stuck since Monday" and wait["time_left_hours"] < 0
    assert any(a["status"] == "failed" for a in data["actions"])
    assert taops(["show", "account", "nope", "--store", store_spec]) == 1
    assert "no account 'nope'" in capsys.readouterr().err


def test_outbox_lists_in_time_order_with_the_channel_when_nobody_is_named(store_spec, capsys) -> None:
    rows = run_json(capsys, "outbox", "--store", store_spec)
    times = [r.get("not_before") or r["at"] for r in rows]
    assert times == sorted(times) and len(rows) > 200
    assert taops(["outbox", "--store", store_spec]) == 0
    text = capsys.readouterr().out
    assert re.findall(r"act_[0-9a-f]{24}", text) == [r["id"] for r in rows]  # the same order
    assert "2027-01-04T23:00:00Z" in text  # when Ana's Slack status is held until


def test_a_refused_event_is_listed_and_re_run_once_its_cause_is_fixed(
    tmp_path: Path, policy, book_data, capsys
) -> None:
    path = tmp_path / "state.json"
    store = open_store(f"embedded:{path}")
    import_book(store, parse_book(book_data), policy, now=NOW)
    body = {"match": {"account": {"id": "vit-newco", "externalId": "newco", "healthScore": 2.5}}}
    [event] = vitally.normalize(body, NOW)
    result = dispatch(Context(store, policy), event, NOW)
    assert result.outcome.value == "rejected"  # Newco is not in the book yet
    [(dead_id, _)] = store.query(DEAD_LETTERS)
    spec = f"embedded:{path}"
    listed = run_json(capsys, "dead-letters", "--store", spec, "--since", "2020-01-01T00:00:00Z")
    assert [(d["id"], d["source"]) for d in listed] == [(dead_id, "vitally")]
    assert "is not in the book" in listed[0]["reason"]

    fixed = copy.deepcopy(book_data)
    fixed["accounts"].append(
        {**fixed["accounts"][0], "id": "newco", "name": "Newco", "vitally_id": "vit-newco"}
    )
    fixed["accounts"][-1].pop("salesforce_id", None)
    import_book(open_store(spec), parse_book(fixed), policy, now=NOW)
    assert taops(["dead-letters", "--store", spec, "--rerun", dead_id]) == 0
    assert f"event {event.event_id}: applied" in capsys.readouterr().out
    after = open_store(spec)
    assert after.get("accounts", "newco")["health_category"] == "red"
    assert after.get(DEAD_LETTERS, dead_id)["rerun_outcome"] == "applied"
    assert taops(["dead-letters", "--store", spec, "--rerun", dead_id]) == 0  # again: a duplicate
    assert "duplicate" in capsys.readouterr().out


def test_a_dead_letter_whose_body_was_not_kept_cannot_be_re_run(tmp_path: Path, capsys) -> None:
    spec = f"embedded:{tmp_path / 's.json'}"
    open_store(spec).put(
        DEAD_LETTERS,
        "d1",
        {
            "source": "deel",
            "reason": "bad signature",
            "received_at": "2026-12-01T00:00:00Z",
            "raw": None,
            "raw_truncated": True,
        },
    )
    assert taops(["dead-letters", "--store", spec, "--rerun", "d1"]) == 1
    assert "not kept" in capsys.readouterr().err


def test_views_rebuild_recreates_what_the_commits_kept(store_spec, state, capsys) -> None:
    store = open_store(store_spec)
    kept, board = dict(store.query(VIEWS)), dict(store.query(BOARD))
    store.put_many((VIEWS, i, {"kind": "stale"}) for i in kept)
    store.put(BOARD, "answered-long-ago", {"waiting": True})
    assert taops(["views", "rebuild", "--store", store_spec, "--at", AT]) == 0
    after = open_store(store_spec)
    rebuilt = dict(after.query(VIEWS))
    assert rebuilt["directory"] == kept["directory"]
    assert rebuilt["book:ana@example.com"] == kept["book:ana@example.com"]
    assert set(dict(after.query(BOARD))) == set(board)  # the stale card is gone
    assert "removed 1 stale" in capsys.readouterr().out
    # The weekly mailbox figures cannot be recomputed from the state: they stay.
    weeks = {i for i in kept if i.startswith("mailbox:")}
    assert weeks and weeks <= set(rebuilt)


def test_an_empty_embedded_store_shows_empty_pages_not_errors(policy) -> None:
    from shared.dashboard.app import page_data

    store = EmbeddedStore()
    for name in ("today", "out", "accounts", "actions"):
        data = page_data(name, Context(store, policy), datetime(2026, 12, 1, tzinfo=UTC))
        assert data["page"] == name
