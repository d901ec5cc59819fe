"""Health from Vitally, replayed with Cloud Scheduler simulated: every category change is
logged at once; the Lighthouse reactions wait until the new category has held
``health.debounce_hours`` (2 in the bundled policy) and happen once.

The book is examples/book.json: Acme Corp (green, 8.1) is Ana Ruiz's (TA, Berlin), Alex
Grant (AE, New York) sells it, Mara Okafor (TA manager, London) manages Ana; Ben Cho is
Ana's coverage peer. Globex (red, Ana's) is already in Lighthouse.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from shared.book import parse_book
from shared.cli import main
from shared.dev import deel_body
from shared.replay import replay
from shared.store import EmbeddedStore
from tests.gmail_messages import line

ROOT = Path(__file__).resolve().parents[2]
DEEL = json.loads((ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text())
ANA, BEN, ALEX, MARA = "ana@example.com", "ben@example.com", "alex@example.com", "mara@example.com"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ping(when: str, account: str, score: float) -> str:
    """A Vitally playbook ping without ``updatedAt`` (its documented-by-example shape)."""
    body = {"match": {"account": {"id": f"vit-{account}", "externalId": account, "healthScore": score}}}
    return line(at(when), "vitally", body)


def time_off(who: str, name: str, first: date, last: date, absence_id: str, received: str) -> str:
    body = json.loads(deel_body(DEEL, email=who, name=name, start=first, end=last, absence_id=absence_id))
    return line(at(received), "deel", body)


@pytest.fixture
def run(book_data, policy):
    book = parse_book(book_data)

    def go(lines: list[str], until: str | None = None, **kwargs):
        return replay(lines, book, policy, scheduler=True, until=at(until) if until else None, **kwargs)

    return go


def lighthouse(result) -> list[tuple[str, str, list[str], str | None, str]]:
    return [
        (a["kind"], a["idempotency_key"], a["recipients"], a["not_before"], a["at"])
        for a in result.actions
        if a.get("cadence") == "lighthouse"
    ]


def test_a_score_that_returns_to_an_earlier_value_is_a_new_observation(run) -> None:
    result = run(
        [
            ping("2026-12-01T10:00:00", "acme", 3.4),
            ping("2026-12-01T11:00:00", "acme", 6.0),
            ping("2026-12-01T12:00:00", "acme", 3.4),
        ]
    )
    assert [s.outcome for s in result.steps[:3]] == ["applied", "applied", "applied"]
    acme = result.state["accounts"]["acme"]
    assert (acme["health_score"], acme["health_category"]) == (3.4, "red")
    changes = sorted(result.state["health_changes"].values(), key=lambda c: c["at"])
    assert [(c["old_category"], c["new_category"]) for c in changes] == [
        ("green", "red"),
        ("red", "yellow"),
        ("yellow", "red"),
    ]


def test_a_flap_inside_the_debounce_is_logged_and_nothing_reacts(run) -> None:
    result = run(
        [ping("2026-12-01T10:00:00", "acme", 3.0), ping("2026-12-01T11:00:00", "acme", 8.0)],
        until="2026-12-02T18:00:00",
    )
    assert lighthouse(result) == []
    assert len(result.state["health_changes"]) == 2
    acme = result.state["accounts"]["acme"]
    assert acme["lighthouse_active"] is False and acme["health_category"] == "green"
    assert [t["kind"] for t in result.state["timers"].values()] == ["renewal"]  # no health timer left
    assert any("back to green within 2 hours: no reaction" in n for n in result.steps[1].notes)


def test_a_red_that_holds_enters_lighthouse_once_and_tells_the_ta_the_ae_and_the_manager(run) -> None:
    result = run(
        [
            ping("2026-12-01T09:30:00", "acme", 6.2),  # yellow first: that is the history
            ping("2026-12-01T10:00:00", "acme", 3.0),
            ping("2026-12-01T14:00:00", "acme", 2.8),  # still red: nothing new
        ],
        until="2026-12-03T00:00:00",
    )
    entered = "2026-12-01T10:00:00Z"
    assert lighthouse(result) == [
        # 12:00 UTC: the first health-check tick after red held for two hours.
        ("vitally.task", f"lighthouse:acme:{entered}:save-plan", [ANA], None, "2026-12-01T12:00:00Z"),
        ("slack.message", f"lighthouse:acme:{entered}:told:{ANA}", [ANA], None, "2026-12-01T12:00:00Z"),
        # 07:00 in New York: held for Alex's working hours.
        (
            "slack.message",
            f"lighthouse:acme:{entered}:told:{ALEX}",
            [ALEX],
            "2026-12-01T14:00:00Z",
            "2026-12-01T12:00:00Z",
        ),
        ("slack.message", f"lighthouse:acme:{entered}:told:{MARA}", [MARA], None, "2026-12-01T12:00:00Z"),
    ]
    task = next(a for a in result.actions if a["kind"] == "vitally.task")
    assert task["due_date"] == "2026-12-08"  # five working days
    assert task["vitally_account_id"] == "vit-acme" and task["period"] == "2026-12-01"
    told = next(a for a in result.actions if a["recipients"] == [MARA])
    assert "2026-12-01 09:30 UTC   6.2  yellow" in told["text"]
    assert "2026-12-01 10:00 UTC   3.0  red" in told["text"]
    acme = result.state["accounts"]["acme"]
    assert acme["lighthouse_active"] is True and acme["lighthouse_entered_at"] == entered
    assert acme["save_plan"]["due_date"] == "2026-12-08" and acme["save_plan"]["owner"] == ANA


def test_a_later_ping_confirms_a_category_that_has_held_without_waiting_for_a_tick(run) -> None:
    result = run(
        [ping("2026-12-01T10:00:00", "acme", 3.0), ping("2026-12-01T12:30:00", "acme", 3.1)],
        until=None,
    )
    second = result.steps[1]
    assert [a["idempotency_key"].rsplit(":", 1)[-1] for a in second.actions][:1] == ["save-plan"]
    assert {a["recipients"][0] for a in second.actions} == {ANA, ALEX, MARA}


def test_a_yellow_that_holds_asks_the_ta_for_a_save_plan(run) -> None:
    result = run([ping("2026-12-01T10:00:00", "acme", 5.5)], until="2026-12-02T00:00:00")
    assert lighthouse(result) == [
        (
            "vitally.task",
            "lighthouse:acme:2026-12-01T10:00:00Z:yellow-save-plan",
            [ANA],
            None,
            "2026-12-01T12:00:00Z",
        )
    ]
    acme = result.state["accounts"]["acme"]
    assert acme["lighthouse_active"] is False
    assert acme["save_plan"]["requested_for"] == "yellow"


def test_green_after_lighthouse_suggests_exit_to_the_ta_and_manager_and_exit_stays_human(
    run, tmp_path: Path
) -> None:
    store = EmbeddedStore()
    result = run([ping("2026-12-01T10:00:00", "globex", 8.2)], until="2026-12-02T00:00:00", store=store)
    keys = [(k, r) for _kind, k, r, _nb, _at in lighthouse(result)]
    assert keys == [
        (f"lighthouse:globex:2026-10-01:may-exit:2026-12-01T10:00:00Z:{ANA}", [ANA]),
        (f"lighthouse:globex:2026-10-01:may-exit:2026-12-01T10:00:00Z:{MARA}", [MARA]),
    ]
    assert "taops lighthouse exit globex --by YOUR_EMAIL --note WHY" in result.actions[0]["text"]
    assert result.state["accounts"]["globex"]["lighthouse_active"] is True  # not automatic

    path = tmp_path / "state.json"
    path.write_text(json.dumps(store.dump()))
    args = ["lighthouse", "exit", "globex", "--by", MARA, "--store", f"embedded:{path}"]
    assert main([*args, "--note", "renewed, usage back"]) == 0
    globex = json.loads(path.read_text())["accounts"]["globex"]
    assert globex["lighthouse_active"] is False and globex["lighthouse_exited_by"] == MARA
    assert globex["save_plan"]["summary"] == "renewed, usage back"
    assert main(args) == 0  # recorded once: the second is the same event
    assert main([*args, "--at", "next Tuesday"]) == 2  # a time it cannot read: a usage error


def test_an_account_without_a_ta_entering_lighthouse_says_so_and_tells_who_there_is(
    book_data, policy
) -> None:
    from datetime import UTC, datetime

    from shared.rules.lighthouse import react

    class Nobody:
        def person(self, email):
            return None

        def absences(self, email):
            return []

        def plan(self, absence_id):
            return None

    account = {"id": "orphan", "name": "Orphan Co", "health_category": "red", "health_score": 2.0}
    outcome = react(account, Nobody(), policy, datetime(2026, 12, 1, 12, tzinfo=UTC))
    assert outcome.actions == []
    assert outcome.notes == [
        "Orphan Co has been red since before taops kept track: it enters the Lighthouse program: "
        "no TA, so no save plan task; nobody to tell (no TA, AE or TA manager)"
    ]


def test_a_ta_who_is_away_has_the_lighthouse_task_and_message_go_to_their_cover(run) -> None:
    result = run(
        [
            time_off(
                ANA, "Ana Ruiz", date(2026, 11, 30), date(2026, 12, 4), "pto-ana", "2026-11-20T09:00:00"
            ),
            ping("2026-12-01T10:00:00", "acme", 3.0),
        ],
        until="2026-12-02T00:00:00",
    )
    task, to_ta = [a for a in result.actions if a.get("cadence") == "lighthouse"][:2]
    assert task["recipients"] == [BEN] and task["meant_for"] == [ANA]
    assert "for Ana Ruiz, who is out until 2026-12-04" in task["reason"]
    assert to_ta["recipients"] == [BEN] and to_ta["not_before"] == "2026-12-01T17:00:00Z"
