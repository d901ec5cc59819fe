"""The monthly contact rule on the replay clock: one reminder to the account's TA per stale
period, whatever the schedule (daily ticks with one fired twice, weekly ticks, a gap of
weeks), a contact in between opening a new period that is reminded only once stale again.

The book is examples/book.json: Acme Corp (Ana Ruiz's) was last contacted 2026-11-02, so it
is stale (over 30 days) from 2026-12-03; Globex (Ana's) and Initech (Ben Cho's, in Los
Angeles) have no contact on record. Ana's reply to Acme's champion in the pooled mailbox on
2026-12-10 is a contact: Acme is stale again from 2027-01-10, a Sunday, so the reminder
comes with the next weekday tick of the ``0 9 * * 1-5`` schedule, Monday the 11th."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.cadences import preview
from shared.dispatch import dispatch
from shared.jobs import tick_event
from shared.processing import OUTBOX
from shared.replay import replay
from shared.sources.vitally_sync import traits_event
from shared.store import EmbeddedStore
from tests.gmail_messages import gmail_message, line

ANA, BEN = "ana@example.com", "ben@example.com"
JOB = "contact-check"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tick(when: datetime, job: str = JOB) -> tuple[datetime, str]:
    return when, line(when, "tick", {"job": job})


def mail(when: str, message_id: str, sender: str, subject: str) -> tuple[datetime, str]:
    moment = at(when)
    return moment, line(moment, "gmail", gmail_message(message_id, "t-acme", sender, subject, moment))


# Jo (Acme's champion) writes on the 9th; Ana answers on the 10th: a contact.
REPLY = [
    mail("2026-12-09T10:00:00", "m-jo", "jo@acme.test", "Upgrade timing"),
    mail("2026-12-10T11:00:00", "m-ana", ANA, "Re: Upgrade timing"),
]


def lines_of(*parts: list[tuple[datetime, str]]) -> list[str]:
    merged = sorted((item for part in parts for item in part), key=lambda pair: pair[0])
    return [text for _, text in merged]


@pytest.fixture
def run(book_data, policy):
    book = parse_book(book_data)

    def go(lines: list[str]):
        return replay(lines, book, policy)

    return go


def reminders(result) -> list[tuple[str, str, str]]:
    return [
        (a["idempotency_key"], a["recipients"][0], a["at"])
        for a in result.actions
        if a.get("cadence") == "contact"
    ]


def daily(first: str, days: int, duplicated: tuple[str, ...] = ()) -> list[tuple[datetime, str]]:
    out = []
    for n in range(days):
        when = at(first) + timedelta(days=n)
        out.append(tick(when))
        if when.date().isoformat() in duplicated:
            out.append(tick(when + timedelta(seconds=20)))  # Cloud Scheduler fired twice
    return out


EXPECTED = [
    ("contact:globex:never", ANA, "2026-11-30T09:00:00Z"),
    ("contact:initech:never", BEN, "2026-11-30T09:00:00Z"),
    ("contact:acme:2026-11-02", ANA, "2026-12-03T09:00:00Z"),
    ("contact:acme:2026-12-10", ANA, "2027-01-11T09:00:00Z"),
]


def test_ten_weeks_of_daily_ticks_one_fired_twice_remind_once_per_stale_period(run) -> None:
    ticks = daily("2026-11-30T09:00:00", 70, duplicated=("2026-12-01", "2026-12-03"))
    result = run(lines_of(ticks, REPLY))
    assert reminders(result) == EXPECTED
    first, second = (a for a in result.actions if a.get("cadence") == "contact" and a["account_id"] == "acme")
    assert first["period"] == "2026-11-02" and first["days_since"] == 31 and first["last_channel"] is None
    assert "last contacted 31 days ago, on 2026-11-02 (channel not recorded)" in first["reason"]
    # The second period is the reply's: named by its channel, 32 days on.
    assert second["period"] == "2026-12-10" and second["last_channel"] == "email (pooled mailbox)"
    assert "last contacted 32 days ago, on 2026-12-10 by email (pooled mailbox)" in second["reason"]
    assert second["kind"] == "slack.message" and second["channel"] == "U0ANA"
    # Ben is in Los Angeles: 09:00 UTC is 01:00 there, so his reminder waits for his day.
    initech = next(a for a in result.actions if a["idempotency_key"] == "contact:initech:never")
    assert initech["not_before"] == "2026-11-30T17:00:00Z"
    assert "Initech has no contact on record" in initech["reason"]


def test_weekly_ticks_give_the_same_reminders_on_the_mondays(run) -> None:
    mondays = [tick(at("2026-11-30T09:00:00") + timedelta(weeks=n)) for n in range(10)]
    result = run(lines_of(mondays, REPLY))
    assert [(k, to) for k, to, _ in reminders(result)] == [(k, to) for k, to, _ in EXPECTED]
    assert [when for *_, when in reminders(result)] == [
        "2026-11-30T09:00:00Z",
        "2026-11-30T09:00:00Z",
        "2026-12-07T09:00:00Z",
        "2027-01-11T09:00:00Z",
    ]


def test_after_a_gap_of_weeks_a_period_still_open_is_caught_up_once_and_one_over_never(run) -> None:
    # No tick from 2 December to 14 January: Acme went stale on the 3rd, but Ana's reply on
    # the 10th ended that period before any tick saw it; the next one is open on the 15th.
    ticks = daily("2026-11-30T09:00:00", 2) + daily("2027-01-15T09:00:00", 6, duplicated=("2027-01-15",))
    result = run(lines_of(ticks, REPLY))
    assert reminders(result) == [
        ("contact:globex:never", ANA, "2026-11-30T09:00:00Z"),
        ("contact:initech:never", BEN, "2026-11-30T09:00:00Z"),
        ("contact:acme:2026-12-10", ANA, "2027-01-15T09:00:00Z"),
    ]


def test_after_a_gap_without_contact_the_stale_period_is_reminded_once(run) -> None:
    ticks = daily("2026-11-30T09:00:00", 2) + daily("2027-01-15T09:00:00", 6)
    result = run(lines_of(ticks))
    acme = [r for r in reminders(result) if ":acme:" in r[0]]
    assert acme == [("contact:acme:2026-11-02", ANA, "2027-01-15T09:00:00Z")]
    reminder = next(a for a in result.actions if a["idempotency_key"] == "contact:acme:2026-11-02")
    assert reminder["days_since"] == 74


def test_a_contact_date_from_vitally_opens_a_new_period_named_by_its_channel(book_data, policy) -> None:
    store = EmbeddedStore()
    import_book(store, parse_book(book_data), policy)
    ctx = Context(store=store, policy=policy)
    first = at("2026-12-03T09:00:00")
    dispatch(ctx, tick_event(JOB, first, first, policy), first)
    told = {doc["idempotency_key"] for _, doc in store.query(OUTBOX) if doc.get("cadence") == "contact"}
    assert "contact:acme:2026-11-02" in told

    # The next hourly sync sees Vitally's last outbound message on the 4th.
    seen = at("2026-12-04T08:20:00")
    event = traits_event("vit-acme", "acme", "Acme Corp", {"last_contact": "2026-12-04"}, seen, seen)
    dispatch(ctx, event, seen)
    acme = store.get("accounts", "acme")
    assert (acme["last_contact"], acme["last_contact_channel"]) == ("2026-12-04", "Vitally")

    # Stale again from 5 January: what the tick would do then names the channel.
    later = at("2027-01-05T09:00:00")
    [owed] = [p for p in preview(store, policy, later, [JOB]) if p.due.subject == "acme"]
    assert owed.due.key == "contact:acme:2026-12-04" and not owed.done
    assert owed.decision is not None
    [action] = owed.decision.actions
    assert "Acme Corp was last contacted 32 days ago, on 2026-12-04 by Vitally" in action.reason
    # The first period is over: nothing owed for it any more.
    assert not [p for p in preview(store, policy, later, [JOB]) if p.due.key == "contact:acme:2026-11-02"]


def test_an_account_without_a_ta_is_nobodys_to_remind(book_data, policy) -> None:
    for account in book_data["accounts"]:
        if account["id"] == "initech":
            account["ta"] = None
    store = EmbeddedStore()
    import_book(store, parse_book(book_data), policy)
    owed = preview(store, policy, at("2026-12-03T09:00:00"), [JOB])
    assert [p.due.key for p in owed] == ["contact:acme:2026-11-02", "contact:globex:never"]
