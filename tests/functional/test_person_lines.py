"""A replayed history can hold the decisions people took (``"person"`` lines): they go
through the same events as ``taops outbox cancel`` and ``taops lighthouse exit``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.book import parse_book
from shared.replay import ReplayError, replay
from tests.functional.test_health import ping
from tests.gmail_messages import line

MARA = "mara@example.com"


def person(when: str, **payload: str) -> str:
    return line(datetime.fromisoformat(when).replace(tzinfo=UTC), "person", payload)


@pytest.fixture
def run(book_data, policy):
    book = parse_book(book_data)
    return lambda lines: replay(lines, book, policy)


def test_a_cancel_by_key_stops_the_action_and_records_who_and_why(run) -> None:
    key = "lighthouse:acme:2026-12-01T10:00:00Z:told:alex@example.com"  # held for 09:00 in New York
    result = run(
        [
            ping("2026-12-01T10:00:00", "acme", 3.0),
            ping("2026-12-01T12:30:00", "acme", 3.0),
            person(
                "2026-12-01T13:00:00", decision="outbox cancel", key=key, by=MARA, reason="told Alex myself"
            ),
        ]
    )
    [told_alex] = [a for a in result.actions if a["idempotency_key"] == key]
    assert (told_alex["status"], told_alex["cancelled_by"], told_alex["cancel_reason"]) == (
        "cancelled",
        MARA,
        "told Alex myself",
    )


def test_a_lighthouse_exit_line_records_the_decision(run) -> None:
    result = run([person("2026-12-01T10:00:00", decision="lighthouse exit", account="globex", by=MARA)])
    assert result.state["accounts"]["globex"]["lighthouse_active"] is False
    assert result.state["accounts"]["globex"]["lighthouse_exited_by"] == MARA


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"decision": "outbox cancel", "by": MARA}, "key: the idempotency key"),
        ({"decision": "outbox cancel", "key": "k"}, "by: the email of who decided"),
        ({"decision": "reboot", "by": MARA}, "decision: 'reboot' is not one taops records"),
    ],
)
def test_a_person_line_that_says_too_little_is_refused_naming_the_field(run, payload, problem) -> None:
    text = json.dumps({"at": "2026-12-01T10:00:00Z", "source": "person", "payload": payload})
    with pytest.raises(ReplayError, match="line 1: " + problem):
        run([text])


def test_an_action_a_person_cancelled_stays_cancelled_when_a_re_plan_derives_it_again(run) -> None:
    from datetime import date

    from tests.functional.test_health import time_off
    from tests.functional.test_renewal_process import renewal_moved

    away = time_off(
        "ana@example.com",
        "Ana Ruiz",
        date(2026, 12, 14),
        date(2026, 12, 18),
        "pto-ana",
        "2026-12-01T09:00:00",
    )
    status = next(a for a in run([away]).actions if a["kind"] == "slack.status")
    result = run(
        [
            away,
            person(
                "2026-12-02T09:00:00",
                decision="outbox cancel",
                key=status["idempotency_key"],
                by=MARA,
                reason="Ana sets her own status",
            ),
            # Globex's renewal moves (outside the absence): the plan is re-drawn, and
            # re-derives the Slack status it always had.
            renewal_moved("2026-12-03T09:00:00", "001GLBX", "2027-05-30", 4),
        ]
    )
    [kept] = [a for a in result.actions if a["id"] == status["id"]]
    assert (kept["status"], kept["cancelled_by"]) == ("cancelled", MARA)
    assert result.steps[2].actions == []
