"""The customer email rules without a store: when an email may go (review, gap, working
hours, a deadline) and what a skip keeps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.rules.business_hours import next_working_time
from shared.rules.customer_email import compose, schedule

GAP = timedelta(days=3)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sent(when: str, topic: str = "usage recap") -> tuple[datetime, dict]:
    return at(when), {"topic": topic, "status": "delivered", "delivered_at": when + "Z"}


def test_with_nothing_near_it_an_email_goes_at_the_first_working_moment(policy) -> None:
    opens = lambda t: next_working_time(t, "Europe/Berlin", policy.calendar)  # noqa: E731
    slot = schedule(at("2026-11-07T10:00:00"), [sent("2026-10-01T09:00:00")], GAP, opens)
    assert (slot.when, slot.waited_for, slot.gave_way) == (at("2026-11-09T08:00:00"), None, None)


def test_the_later_email_waits_out_the_gap_of_every_email_around_it(policy) -> None:
    opens = lambda t: next_working_time(t, "UTC", policy.calendar)  # noqa: E731
    # One sent on Monday 2nd, one waiting for Thursday 5th: three days after the 5th.
    others = [sent("2026-11-02T10:00:00"), sent("2026-11-05T10:00:00", "quarterly call offer")]
    slot = schedule(at("2026-11-03T09:00:00"), others, GAP, opens)
    assert slot.when == at("2026-11-09T09:00:00")  # Sunday 8th 10:00 → Monday's opening
    assert slot.waited_for is not None and slot.waited_for["topic"] == "quarterly call offer"


def test_a_deadline_lets_a_notice_go_inside_the_gap_rather_than_too_late(policy) -> None:
    opens = lambda t: next_working_time(t, "UTC", policy.calendar)  # noqa: E731
    others = [sent("2026-12-09T08:00:00", "out-of-office notice")]
    in_time = schedule(at("2026-12-10T10:00:00"), others, GAP, opens, deadline=at("2026-12-20T00:00:00"))
    assert (in_time.when, in_time.gave_way) == (at("2026-12-14T09:00:00"), None)
    late = schedule(at("2026-12-10T10:00:00"), others, GAP, opens, deadline=at("2026-12-13T23:00:00"))
    assert late.when == at("2026-12-10T10:00:00")
    assert late.gave_way is not None and late.gave_way["topic"] == "out-of-office notice"


def offer(policy, history: list[dict], **account) -> object:
    return compose(
        {"id": "vandelay", "name": "Vandelay", "champions": ["art@vandelay.test"], **account},
        key="call-offer:vandelay:FY2027-Q4",
        reason="the quarterly call offer",
        topic="quarterly call offer",
        template="call_offer",
        context={"minutes": 30, "booking_link": "https://example.com/b", "until": "31 January 2027"},
        history=history,
        policy=policy,
        now=at("2026-11-01T09:00:00"),
        timezone="UTC",
        cadence="call-offer",
    )


def test_a_do_not_contact_account_gets_a_skip_record_once_and_no_email(policy) -> None:
    first = offer(policy, [], do_not_contact=True)
    assert first.action is None and first.skipped is not None
    record_id, record = first.skipped
    assert record_id == record["id"]
    assert (record["status"], record["skipped_reason"], record["recipients"]) == (
        "skipped",
        "do_not_contact",
        [],
    )
    assert record["idempotency_key"] == "call-offer:vandelay:FY2027-Q4:skipped"
    assert record["customer_account"] == "vandelay" and record["cadence"] == "call-offer"
    assert first.note == "Vandelay is marked do_not_contact: the quarterly call offer is not sent"
    again = offer(policy, [record], do_not_contact=True)
    assert (again.action, again.skipped) == (None, None)
    assert again.note.endswith("(recorded before)")


def test_an_account_without_champions_is_written_to_by_nobody(policy) -> None:
    nobody = offer(policy, [], champions=[])
    assert (nobody.action, nobody.skipped, nobody.note) == (
        None,
        None,
        "Vandelay: no champion to send the quarterly call offer to",
    )


def test_the_review_hold_is_the_policy_s(policy) -> None:
    composed = offer(policy, [])
    assert composed.action is not None
    assert composed.action.not_before == at("2026-11-02T09:00:00")  # Sunday + 24 hours: Monday 09:00 UTC
    assert composed.action.model_dump(mode="json")["review_until"] == "2026-11-02T09:00:00Z"


def waiting(when: str, topic: str = "usage recap") -> dict:
    return {"topic": topic, "status": "pending", "not_before": when + "Z", "at": "2026-10-30T09:00:00Z"}


def notice(policy, history, deadline: str) -> object:
    return compose(
        {"id": "vandelay", "name": "Vandelay", "champions": ["art@vandelay.test"]},
        key="ooo:vandelay",
        reason="Ana is away",
        topic="out-of-office notice",
        template="note",
        context={"subject": "Ana out of office", "paragraphs": ["Ana is away."]},
        history=history,
        policy=policy,
        now=at("2026-11-01T09:00:00"),  # a Sunday: held for review until Monday 09:00
        timezone="UTC",
        deadline=at(deadline),
    )


def test_an_email_with_a_deadline_reads_only_the_emails_it_can_come_near(policy) -> None:
    others = [waiting("2026-10-20T09:00:00"), waiting("2026-11-03T10:00:00"), waiting("2026-12-01T09:00:00")]
    asked: list[tuple[datetime, datetime | None]] = []

    def emails(since: datetime, until: datetime | None) -> list[dict]:
        asked.append((since, until))
        return [
            d
            for d in others
            if since <= at(d["not_before"][:-1]) and (until is None or at(d["not_before"][:-1]) < until)
        ]

    bounded = notice(policy, emails, "2026-11-20T00:00:00")
    # From Monday 09:00 less the 3-day gap and a week's late delivery; to the deadline and a gap.
    assert asked == [(at("2026-10-23T09:00:00"), at("2026-11-23T00:00:00"))]
    whole = notice(policy, others, "2026-11-20T00:00:00")
    assert bounded.action is not None and whole.action is not None
    assert bounded.action.not_before == whole.action.not_before == at("2026-11-06T10:00:00")


def test_past_its_deadline_already_an_email_keeps_its_gap_from_every_later_one(policy) -> None:
    # Due by Sunday 20:00, it cannot go before Monday 09:00: the gap then pushes it past
    # one email the deadline would have left unread (Thursday's) to the next Monday.
    others = [waiting("2026-11-02T10:00:00"), waiting("2026-11-05T11:00:00")]
    asked: list[datetime | None] = []

    def emails(since: datetime, until: datetime | None) -> list[dict]:
        asked.append(until)
        return [d for d in others if until is None or at(d["not_before"][:-1]) < until]

    composed = notice(policy, emails, "2026-11-01T20:00:00")
    assert asked == [at("2026-11-04T20:00:00"), None]
    assert composed.action is not None and composed.action.not_before == at("2026-11-09T09:00:00")
