"""The pooled mailbox's 48-hour SLA, replayed end to end on the embedded store with Cloud
Scheduler simulated: exact steps, recipients, send times and cancellations.

The book is examples/book.json: Ana Ruiz (TA, Berlin) looks after Acme, whose champion is
jo@acme.test; Ben Cho (TA, Los Angeles) is her coverage peer; Mara Okafor (TA manager,
London) manages both; Dana Idris (TA director, Chicago) manages Mara. The policy is the
bundled one: working_days clock, reminder at 36, steps at 48 / 60 / 72 working hours, US
holidays, business hours 09:00-17:00 in each recipient's own time zone.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from shared.book import parse_book
from shared.dev import deel_body
from shared.replay import replay
from tests.gmail_messages import gmail_message, line

ROOT = Path(__file__).resolve().parents[2]
DEEL = json.loads((ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text())
THREAD = "thread-acme-1"
ANA, BEN, MARA, DANA = "ana@example.com", "ben@example.com", "mara@example.com", "dana@example.com"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def time_off(who: str, name: str, first: date, last: date, absence_id: str, received: str) -> str:
    body = json.loads(deel_body(DEEL, email=who, name=name, start=first, end=last, absence_id=absence_id))
    return line(at(received), "deel", body)


def customer(
    message_id: str, when: str, thread: str = THREAD, subject: str = "Login broken", **headers: str
) -> str:
    moment = at(when)
    return line(
        moment,
        "gmail",
        gmail_message(message_id, thread, "jo@acme.test", subject, moment, name="Jo Acme", **headers),
    )


def team(message_id: str, when: str, sender: str = BEN, thread: str = THREAD) -> str:
    moment = at(when)
    return line(moment, "gmail", gmail_message(message_id, thread, sender, "Re: Login broken", moment))


def tick(when: str, job: str = "sla-check") -> str:
    return line(at(when), "tick", {"job": job})


@pytest.fixture
def run(book_data, policy):
    book = parse_book(book_data)

    def go(lines: list[str], until: str | None = None, scheduler: bool = True):
        return replay(lines, book, policy, scheduler=scheduler, until=at(until) if until else None)

    return go


def sla_actions(result) -> list[dict]:
    return [a for a in result.actions if a.get("cadence") == "sla"]


def sla_timers(result) -> list[dict]:
    return [t for t in result.state.get("timers", {}).values() if t["kind"] == "sla"]


def effective(action: dict) -> str:
    return action["not_before"] or action["at"]


def test_a_thread_climbs_the_whole_ladder_while_the_ta_and_the_ta_manager_are_away(run) -> None:
    result = run(
        [
            time_off(
                ANA, "Ana Ruiz", date(2026, 12, 14), date(2026, 12, 18), "pto-ana", "2026-11-30T09:00:00"
            ),
            time_off(
                MARA, "Mara Okafor", date(2026, 12, 14), date(2026, 12, 18), "pto-mara", "2026-11-30T09:05:00"
            ),
            customer("m1", "2026-12-15T10:00:00"),  # Tue 11:00 in Berlin
        ],
        until="2026-12-21T00:00:00",
    )
    steps = sla_actions(result)
    assert [(a["sla_level"], a["recipients"], a["meant_for"], effective(a)) for a in steps] == [
        # 36 working hours is Wed 23:00 in Berlin: the reminder comes in the last working
        # hour before (16:00 Berlin), to Ben (Ana's cover for Acme), held for 09:00 in LA.
        (0, [BEN], [ANA], "2026-12-16T17:00:00Z"),
        # 48: Thu 11:00 Berlin is 02:00 in Los Angeles: held for Ben's 09:00.
        (1, [BEN], [ANA], "2026-12-17T17:00:00Z"),
        # 60: the TA manager is away too; her manager, the director, hears it (16:00 in Chicago).
        (2, [DANA], [MARA], "2026-12-17T22:00:00Z"),
        # 72: the director, held for 09:00 in Chicago.
        (3, [DANA], [DANA], "2026-12-18T15:00:00Z"),
    ]
    key = "sla:thread-acme-1:2026-12-15T10:00:00Z:{}"
    assert [a["idempotency_key"] for a in steps] == [key.format(level) for level in range(4)]
    assert all(a["kind"] == "slack.message" and a["thread_id"] == THREAD for a in steps)
    assert all(a["period"] == "2026-12-15T10:00:00Z" and a["account_id"] == "acme" for a in steps)
    assert all(a["status"] == "delivered" for a in steps)
    assert steps[0]["reason"] == (
        "Jo Acme wrote 'Login broken' on Tue 15 Dec 11:00 CET; no team reply for 29 working hours: "
        "the 48-hour SLA is breached on Thu 17 Dec 11:00 CET; "
        "for Ana Ruiz, who is out until 2026-12-18 (Ben Cho is their cover for this account)"
    )
    assert steps[2]["reason"].endswith(
        "step 2 of 3, to the TA manager; "
        "for Mara Okafor, who is out until 2026-12-18 (Dana Idris is their manager)"
    )
    thread = result.state["mail_threads"][f"technicaladvisors@example.com:{THREAD}"]
    assert (thread["waiting"], thread["sla_level"], thread["next_sla_level"]) == (True, 3, None)
    assert sla_timers(result) == []  # the top of the ladder: nothing left to fire


def test_a_thread_answered_before_the_reminder_sends_nothing(run) -> None:
    result = run(
        [customer("m1", "2026-12-15T10:00:00"), team("m2", "2026-12-16T09:00:00")],
        until="2026-12-22T00:00:00",
    )
    assert sla_actions(result) == []
    thread = result.state["mail_threads"][f"technicaladvisors@example.com:{THREAD}"]
    assert (thread["waiting"], thread["sla_timer"], thread["answered_waits"]) == (False, None, 1)
    assert sla_timers(result) == []
    assert result.state["accounts"]["acme"]["last_contact"] == "2026-12-16"  # the reply counts as contact


def test_a_reply_withdraws_a_step_still_waiting_for_working_hours(run) -> None:
    # Ana is away: step 1 falls at Thu 10:00 UTC and is held for Ben's 09:00 in Los Angeles;
    # Mara answers the customer at 11:00 UTC: the held message is withdrawn unread.
    result = run(
        [
            time_off(
                ANA, "Ana Ruiz", date(2026, 12, 14), date(2026, 12, 18), "pto-ana", "2026-11-30T09:00:00"
            ),
            customer("m1", "2026-12-15T10:00:00"),
            team("m2", "2026-12-17T11:00:00", sender=MARA),
        ],
        until="2026-12-22T00:00:00",
    )
    steps = {a["sla_level"]: a for a in sla_actions(result)}
    assert steps[0]["status"] == "delivered"
    assert steps[1]["status"] == "cancelled" and steps[1]["cancel_reason"] == "the team replied"
    assert set(steps) == {0, 1}


def test_a_friday_afternoon_thread_waits_out_the_weekend_and_a_public_holiday(run) -> None:
    # Fri 15 Jan 2027 15:00 Berlin; Monday 18 Jan is Martin Luther King Jr. Day (US).
    result = run([customer("m1", "2027-01-15T14:00:00")], until="2027-01-23T00:00:00")
    steps = sla_actions(result)
    # Friday counts 9 hours, the weekend and the holiday none, Tuesday 24: the reminder's
    # 36 hours fall at Wed 03:00 Berlin, so it comes in Tuesday's last working hour (16:00);
    # the breach is Wed 15:00 Berlin.
    assert [(a["sla_level"], a["recipients"], effective(a)) for a in steps] == [
        (0, [ANA], "2027-01-19T15:00:00Z"),
        (1, [ANA], "2027-01-20T14:00:00Z"),
        (2, [MARA], "2027-01-21T09:00:00Z"),  # 60 h: Thu 03:00 Berlin, held for 09:00 in London
        (3, [DANA], "2027-01-21T15:00:00Z"),  # 72 h: Thu 15:00 Berlin, 08:00 in Chicago → 09:00
    ]
    quiet = {"2027-01-16", "2027-01-17", "2027-01-18"}
    sent = [a["delivered_at"][:10] for a in steps] + [effective(a)[:10] for a in steps]
    assert not quiet & set(sent)


def test_the_same_gmail_message_twice_changes_nothing_the_second_time(run) -> None:
    once = run([customer("m1", "2026-12-15T10:00:00")], until="2026-12-21T00:00:00")
    message = gmail_message("m1", THREAD, "jo@acme.test", "Login broken", at("2026-12-15T10:00:00"))
    twice = run(
        [
            line(at("2026-12-15T10:00:00"), "gmail", message),
            line(at("2026-12-15T10:05:00"), "gmail", message),
        ],
        until="2026-12-21T00:00:00",
    )
    assert twice.steps[1].outcome == "duplicate"
    assert [a["idempotency_key"] for a in sla_actions(twice)] == [
        a["idempotency_key"] for a in sla_actions(once)
    ]
    assert len(sla_actions(once)) == 4


def test_a_tick_fired_twice_or_late_takes_each_step_once(run) -> None:
    result = run(
        [
            customer("m1", "2026-12-15T10:00:00"),
            tick("2026-12-17T10:00:00"),  # 48 h reached: the reminder is overtaken, step 1 goes
            tick("2026-12-17T10:00:30"),  # Cloud Scheduler firing twice: the same 10:00 slot
            tick("2026-12-17T10:07:00"),  # published late: still the 10:00 slot
            tick("2026-12-17T10:15:00"),  # the next slot: nothing new is due
            tick("2026-12-18T11:00:00"),  # after a missed day: steps 2 and 3 caught up, once each
            tick("2026-12-18T11:15:00"),
        ],
        scheduler=False,
    )
    assert [s.outcome for s in result.steps[1:]] == [
        "applied",
        "duplicate",
        "duplicate",
        "applied",
        "applied",
        "applied",
    ]
    assert [(a["sla_level"], a["recipients"]) for a in sla_actions(result)] == [
        (1, [ANA]),
        (2, [MARA]),
        (3, [DANA]),
    ]


def test_the_same_gmail_id_with_other_content_is_a_conflict_not_a_new_message(run) -> None:
    result = run([customer("m1", "2026-12-15T10:00:00"), customer("m1", "2026-12-15T10:05:00")])
    assert result.steps[1].outcome == "conflict"
    thread = result.state["mail_threads"][f"technicaladvisors@example.com:{THREAD}"]
    assert thread["waiting_since"] == "2026-12-15T10:00:00Z"
    [kept] = result.state["dead_letters"].values()
    assert kept["reason"].startswith("idempotency conflict")


def test_an_auto_reply_or_a_bounce_never_starts_a_wait(run) -> None:
    result = run(
        [
            customer("m1", "2026-12-15T10:00:00", thread="t-auto", Auto_Submitted="auto-replied"),
            line(
                at("2026-12-15T10:01:00"),
                "gmail",
                gmail_message(
                    "m2", "t-bounce", "mailer-daemon@acme.test", "Undeliverable", at("2026-12-15T10:01:00")
                ),
            ),
            customer("m3", "2026-12-15T10:02:00", thread="t-bulk", Precedence="bulk"),
        ],
        until="2026-12-22T00:00:00",
    )
    assert sla_actions(result) == []
    assert not any(t["waiting"] for t in result.state["mail_threads"].values())


def test_a_sender_on_an_accounts_domain_belongs_to_it_and_an_unknown_one_reaches_every_ta(
    book_data, policy
) -> None:
    book_data["accounts"][1]["domains"] = ["globex.test"]
    book = parse_book(book_data)
    moment = at("2026-12-15T10:00:00")
    lines = [
        line(moment, "gmail", gmail_message("m1", "t-globex", "pat@globex.test", "Question", moment)),
        line(moment, "gmail", gmail_message("m2", "t-unknown", "someone@elsewhere.test", "Hello", moment)),
    ]
    result = replay(lines, book, policy, scheduler=True, until=at("2026-12-17T09:00:00"))
    first = {a["thread_id"]: a for a in sla_actions(result) if a["sla_level"] == 0}
    assert first["t-globex"]["account_id"] == "globex" and first["t-globex"]["recipients"] == [ANA]
    # Nobody's account: every TA of the pooled team, in one message (email: no team channel set).
    assert first["t-unknown"]["account_id"] is None
    assert (first["t-unknown"]["kind"], first["t-unknown"]["recipients"]) == ("email.send", [ANA, BEN])


def test_a_reminder_that_cannot_be_read_before_the_deadline_is_dropped_not_sent_late(
    book_data, policy
) -> None:
    # Two hours' notice: the reminder falls at 09:00 in Berlin, but Ana is away and her
    # cover Ben is asleep in Los Angeles until after the 11:00 deadline.
    short = policy.model_copy(
        update={"group_mail": policy.group_mail.model_copy(update={"remind_before_breach_hours": 2})}
    )
    lines = [
        time_off(ANA, "Ana Ruiz", date(2026, 12, 14), date(2026, 12, 18), "pto-ana", "2026-11-30T09:00:00"),
        customer("m1", "2026-12-15T10:00:00"),
    ]
    result = replay(lines, parse_book(book_data), short, scheduler=True, until=at("2026-12-17T12:00:00"))
    assert [(a["sla_level"], a["recipients"]) for a in sla_actions(result)] == [(1, [BEN])]
    notes = [note for step in result.steps for note in step.notes]
    assert any(
        "reminder dropped: Ben Cho cannot read it before the deadline (Thu 17 Dec 11:00 CET)" in n
        for n in notes
    )


def test_message_times_with_milliseconds_climb_the_ladder_on_the_simulated_clock(run) -> None:
    # Gmail's internalDate has milliseconds: a timer due at 22:00:30.123 is fired by the
    # 22:15 tick, not by a 22:00 tick that would find nothing due and loop.
    wrote = datetime(2026, 12, 15, 10, 0, 30, 123000, tzinfo=UTC)
    message = gmail_message("m1", THREAD, "jo@acme.test", "Login broken", wrote, name="Jo Acme")
    result = run([line(wrote, "gmail", message)], until="2026-12-21T00:00:00")
    assert [a["sla_level"] for a in sla_actions(result)] == [0, 1, 2, 3]
    ticks = [(s.line.at, s.line.payload["job"]) for s in result.steps if s.line.source == "tick"]
    assert ticks == sorted(ticks, key=lambda t: t[0]) and len(ticks) == len(set(ticks))


def test_a_message_seen_days_late_takes_the_due_steps_once_at_the_time_it_is_seen(run) -> None:
    wrote = at("2026-12-01T10:00:00")
    seen = at("2026-12-10T10:00:00")
    message = gmail_message("m1", THREAD, "jo@acme.test", "Login broken", wrote, name="Jo Acme")
    result = run([line(seen, "gmail", message)], until="2026-12-12T00:00:00")
    steps = sla_actions(result)
    assert [a["sla_level"] for a in steps] == [1, 2, 3]  # no reminder for a deadline long gone
    assert {a["at"] for a in steps} == {"2026-12-10T10:00:00Z"}  # nothing dated in the past
    assert all(s.line.at >= seen for s in result.steps if s.line.source == "tick")


def test_a_redelivered_message_whose_labels_changed_is_a_duplicate_not_a_conflict(run) -> None:
    wrote = at("2026-12-15T10:00:00")
    unread = gmail_message("m1", THREAD, "jo@acme.test", "Login broken", wrote)
    read = {**unread, "labelIds": ["INBOX"]}  # someone opened it before the resync
    result = run([line(wrote, "gmail", unread), line(at("2026-12-15T11:00:00"), "gmail", read)])
    assert [s.outcome for s in result.steps] == ["applied", "duplicate"]
    assert "dead_letters" not in result.state
