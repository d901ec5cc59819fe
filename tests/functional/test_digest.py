"""The Monday digest: one per TA (or one to the team's channel) per week, whatever the
schedule, a missed week never sent late and the current one caught up once; and what it
says for a known state of the team, section by section, in Slack blocks and in email.

The book is examples/book.json: Ana Ruiz (Berlin) and Ben Cho (Los Angeles) are the TAs;
08:00 UTC on a Monday is inside Ana's working day and before Ben's (17:00 UTC)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared.book import parse_book
from shared.cadences import preview
from shared.cadences.digest import week_of
from shared.exceptions import PolicyError
from shared.policy import Policy, parse_policy
from shared.processing import OUTBOX
from shared.replay import replay
from shared.store import EmbeddedStore
from tests.functional.test_health import ping, time_off
from tests.gmail_messages import gmail_message, line

ANA, BEN = "ana@example.com", "ben@example.com"
JOB = "weekly-digest"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def tick(when: datetime) -> str:
    return line(when, "tick", {"job": JOB})


def with_schedule(policy: Policy, schedule: str) -> Policy:
    cadences = [c.model_copy(update={"schedule": schedule}) if c.job == JOB else c for c in policy.cadences]
    return policy.model_copy(update={"cadences": cadences})


def to_team_channel(policy: Policy) -> Policy:
    return policy.model_copy(
        update={
            "group_mail": policy.group_mail.model_copy(update={"slack_channel": "C0TEAM"}),
            "digest": policy.digest.model_copy(update={"to": "team_channel"}),
        }
    )


def digests(result) -> list[tuple[str, str, str, str | None]]:
    return [
        (
            a["idempotency_key"],
            a["recipients"][0] if a["recipients"] else a["channel"],
            a["at"],
            a["not_before"],
        )
        for a in result.actions
        if a.get("cadence") == "digest"
    ]


MONDAYS = [date(2026, 11, 30) + timedelta(weeks=n) for n in range(10)]
WEEKS = ["2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53"] + [f"2027-W0{n}" for n in range(1, 6)]


def expected() -> list[tuple[str, str, str, str | None]]:
    out = []
    for monday, week in zip(MONDAYS, WEEKS, strict=True):
        sent = f"{monday}T08:00:00Z"
        # Martin Luther King Jr. Day (18 January 2027) is a holiday of the policy's calendar:
        # both wait for Tuesday's working hours.
        ana_opens = f"{monday + timedelta(days=1)}T08:00:00Z" if monday == date(2027, 1, 18) else None
        ben_day = monday + timedelta(days=1) if monday == date(2027, 1, 18) else monday
        out += [
            (f"digest:{week}:{ANA}", ANA, sent, ana_opens),
            (f"digest:{week}:{BEN}", BEN, sent, f"{ben_day}T17:00:00Z"),
        ]
    return out


@pytest.fixture
def run(book_data):
    book = parse_book(book_data)

    def go(lines: list[str], policy: Policy):
        return replay(lines, book, policy)

    return go


def daily_ticks(days: int, twice: tuple[date, ...] = ()) -> list[str]:
    out = []
    for n in range(days):
        when = at("2026-11-30T08:00:00") + timedelta(days=n)
        out.append(tick(when))
        if when.date() in twice:
            out.append(tick(when + timedelta(seconds=20)))  # Cloud Scheduler fired twice
    return out


@pytest.mark.parametrize(
    ("ticks", "schedule"),
    [
        (daily_ticks(70, twice=(date(2026, 11, 30), date(2026, 12, 8))), "0 8 * * 1"),
        # The same ticks on a daily schedule: each is a slot of its own, and the job runs.
        (daily_ticks(70, twice=(date(2026, 11, 30), date(2026, 12, 8))), "0 8 * * *"),
        ([tick(at(f"{monday}T08:00:00")) for monday in MONDAYS], "0 8 * * 1"),
    ],
    ids=["daily-ticks-weekly-schedule", "daily-ticks-daily-schedule", "weekly-ticks"],
)
def test_ten_weeks_of_ticks_give_each_ta_one_digest_a_monday(run, policy, ticks, schedule) -> None:
    assert digests(run(ticks, with_schedule(policy, schedule))) == expected()


def test_after_a_three_week_gap_only_the_current_week_is_caught_up_once(run, policy) -> None:
    # Ticks on the first two Mondays, then none until Wednesday 30 December (fired twice):
    # weeks 51 and 52 are over and never sent; week 53 goes out on the Wednesday.
    lines = [tick(at("2026-11-30T08:00:00")), tick(at("2026-12-07T08:00:00"))]
    lines += [
        tick(at("2026-12-30T08:00:00")),
        tick(at("2026-12-30T08:05:00")),
        tick(at("2027-01-04T08:00:00")),
    ]
    for schedule in ("0 8 * * 1", "0 8 * * *"):
        sent = [(key, when) for key, _, when, _ in digests(run(lines, with_schedule(policy, schedule)))]
        assert sent == [
            (f"digest:2026-W49:{ANA}", "2026-11-30T08:00:00Z"),
            (f"digest:2026-W49:{BEN}", "2026-11-30T08:00:00Z"),
            (f"digest:2026-W50:{ANA}", "2026-12-07T08:00:00Z"),
            (f"digest:2026-W50:{BEN}", "2026-12-07T08:00:00Z"),
            (f"digest:2026-W53:{ANA}", "2026-12-30T08:00:00Z"),
            (f"digest:2026-W53:{BEN}", "2026-12-30T08:00:00Z"),
            (f"digest:2027-W01:{ANA}", "2027-01-04T08:00:00Z"),
            (f"digest:2027-W01:{BEN}", "2027-01-04T08:00:00Z"),
        ], schedule


def test_to_the_team_channel_one_post_a_week_in_the_teams_working_hours(run, policy) -> None:
    result = run(daily_ticks(21, twice=(date(2026, 11, 30),)), to_team_channel(policy))
    assert digests(result) == [
        ("digest:2026-W49", "C0TEAM", "2026-11-30T08:00:00Z", "2026-11-30T09:00:00Z"),
        ("digest:2026-W50", "C0TEAM", "2026-12-07T08:00:00Z", "2026-12-07T09:00:00Z"),
        ("digest:2026-W51", "C0TEAM", "2026-12-14T08:00:00Z", "2026-12-14T09:00:00Z"),
    ]
    post = next(a for a in result.actions if a.get("cadence") == "digest")
    assert post["kind"] == "slack.message" and post["recipients"] == [] and post["period"] == "2026-W49"
    assert post["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Monday digest, week of 2026-11-30 (2026-W49)"},
    }


def test_team_channel_without_a_channel_is_a_bad_policy(policy) -> None:
    data = json.loads(policy.model_dump_json())
    data["digest"]["to"] = "team_channel"
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    [problem] = caught.value.problems
    assert problem.startswith("digest:") and "to: team_channel needs group_mail.slack_channel" in problem


@pytest.mark.parametrize(
    ("moment", "zone", "monday", "label"),
    [
        ("2026-12-28T08:00:00", "UTC", date(2026, 12, 28), "2026-W53"),  # 2026 has 53 ISO weeks
        ("2027-01-03T23:00:00", "UTC", date(2026, 12, 28), "2026-W53"),  # Sunday: still week 53
        ("2027-01-04T00:00:00", "UTC", date(2027, 1, 4), "2027-W01"),
        # 23:30 UTC on Sunday is already Monday in Berlin: the new week there.
        ("2027-01-03T23:30:00", "Europe/Berlin", date(2027, 1, 4), "2027-W01"),
        ("2026-03-30T06:30:00", "America/Los_Angeles", date(2026, 3, 23), "2026-W13"),
    ],
)
def test_the_week_is_the_iso_week_in_the_jobs_time_zone(moment, zone, monday, label) -> None:
    assert week_of(at(moment), zone) == (monday, label)


# -- what it says -------------------------------------------------------------------------------


def seeded(book_data: dict[str, Any], policy: Policy) -> EmbeddedStore:
    """The team on Monday 14 December 2026: Ana away all week (Ben covers Acme, renewing, and
    Globex, in Lighthouse); two customer threads waiting (one from an unknown sender); Globex
    back to green and Initech red last week; Initech's 120-day line on Tuesday; one action
    failed last week and one long before. Ben has no Slack id: his messages are emails."""
    for person in book_data["people"]:
        if person["email"] == BEN:
            person["slack_id"] = None
    for account in book_data["accounts"]:
        if account["id"] == "initech":
            account["renewal_date"] = "2027-04-14"
    lines = [
        time_off(ANA, "Ana Ruiz", date(2026, 12, 14), date(2026, 12, 18), "pto-ana", "2026-12-01T10:00:00"),
        ping("2026-12-09T10:00:00", "globex", 7.5),
        line(
            at("2026-12-11T10:00:00"),
            "gmail",
            gmail_message(
                "m1",
                "t-acme",
                "jo@acme.test",
                "SSO & <login> broken",
                at("2026-12-11T10:00:00"),
                name="Jo Park",
            ),
        ),
        ping("2026-12-12T10:00:00", "initech", 3.0),
        line(
            at("2026-12-12T11:00:00"),
            "gmail",
            gmail_message("m2", "t-new", "sam@newco.test", "Pricing question", at("2026-12-12T11:00:00")),
        ),
    ]
    store = EmbeddedStore()
    replay(lines, parse_book(book_data), policy, store=store)
    failed = {"kind": "slack.message", "status": "failed", "idempotency_key": "seeded"}
    store.put(
        OUTBOX,
        "act_recent",
        {
            **failed,
            "recipients": [ANA],
            "account_id": "acme",
            "at": "2026-12-10T09:00:00Z",
            "reason": "Acme Corp renews 2026-12-18",
            "last_error": "Slack chat.postMessage: channel_not_found",
            "attempt_log": [{"at": "2026-12-10T09:00:05Z", "error": "channel_not_found"}],
        },
    )
    store.put(
        OUTBOX,
        "act_old",
        {
            **failed,
            "recipients": [BEN],
            "account_id": "initech",
            "at": "2026-11-20T09:00:00Z",
            "reason": "an old one",
            "last_error": "Gmail: 403",
            "attempt_log": [{"at": "2026-11-20T09:00:05Z", "error": "403"}],
        },
    )
    return store


MONDAY = at("2026-12-14T08:00:00")


def decided(store: EmbeddedStore, policy: Policy) -> dict[str, dict[str, Any]]:
    out = {}
    for owed in preview(store, policy, MONDAY, [JOB]):
        assert owed.decision is not None and not owed.done
        [action] = owed.decision.actions
        out[owed.due.key] = action.model_dump(mode="json")
    return out


BEN_EMAIL = """\
Monday digest, week of 2026-12-14 (2026-W51)
For Ben Cho: the team's absences and review weeks; your accounts (and those you cover this week), \
and the mailbox threads no TA owns yet.

Out this week
- Ana Ruiz: out 2026-12-14 to 2026-12-18; Acme Corp covered by Ben Cho (renewing), Globex covered \
by Ben Cho (Lighthouse save plan)

Waiting in the pooled mailbox
- 'SSO & <login> broken' from Jo Park (Acme Corp): 26h00 working hours left
- 'Pricing question' from sam@newco.test: 40h00 working hours left; no TA

Health category changes, past week
- Globex: red → green on 2026-12-09 (score 7.5)
- Initech: yellow → red on 2026-12-12 (score 3.0)

Entering the 120-day renewal process
- Initech renews 2027-04-14 (in 121 days): its renewal process starts 2026-12-15

MBRs and QBRs coming
- MBRs this week, 2026-12-14 to 2026-12-20 (second week of December): 30 minutes per TA with the \
TA Director and TS VP on their Top 3 accounts

Actions that failed, past week
- slack.message to ana@example.com, failed 2026-12-10: Slack chat.postMessage: channel_not_found \
(it was: Acme Corp renews 2026-12-18)
- and 1 older failure: `taops outbox --failed` lists them

Why you: the Monday digest for the team meeting, week 2026-W51."""


def test_a_tas_digest_says_each_section_for_their_accounts_and_those_they_cover(book_data, policy) -> None:
    actions = decided(seeded(book_data, policy), policy)
    ben = actions[f"digest:2026-W51:{BEN}"]
    assert (ben["kind"], ben["to"], ben["subject"]) == (
        "email.send",
        [BEN],
        "Monday digest, week of 2026-12-14 (2026-W51)",
    )
    assert ben["body"] == BEN_EMAIL
    assert (ben["cadence"], ben["period"], ben["not_before"]) == (
        "digest",
        "2026-W51",
        "2026-12-14T17:00:00Z",
    )


def test_the_digest_of_a_ta_who_is_away_goes_to_their_cover_and_says_so(book_data, policy) -> None:
    ana = decided(seeded(book_data, policy), policy)[f"digest:2026-W51:{ANA}"]
    assert ana["recipients"] == [BEN] and ana["meant_for"] == [ANA]
    assert ana["reason"] == (
        "the Monday digest for the team meeting, week 2026-W51; "
        "for Ana Ruiz, who is out until 2026-12-18 (Ben Cho is their coverage peer)"
    )
    body = ana["body"]
    assert body.startswith("Monday digest, week of 2026-12-14 (2026-W51)\nFor Ana Ruiz:")
    # Ana's accounts only: Initech (Ben's) is in neither health nor renewals; no older failure.
    assert "Health category changes, past week\n- Globex: red → green on 2026-12-09 (score 7.5)\n\n" in body
    assert "Entering the 120-day renewal process\nNothing enters the renewal process.\n" in body
    assert "older failure" not in body


def test_the_team_channel_digest_says_everything_in_slack_blocks(book_data, policy) -> None:
    team = to_team_channel(policy)
    [post] = decided(seeded(book_data, team), team).values()
    assert (post["kind"], post["channel"], post["idempotency_key"]) == (
        "slack.message",
        "C0TEAM",
        "digest:2026-W51",
    )
    assert post["text"] == (
        "Monday digest, week of 2026-12-14 (2026-W51): 1 out, 2 waiting in the mailbox, 2 health changes, "
        "1 entering renewal, 1 review week coming, 1 failed"
    )
    sections = [b["text"]["text"] for b in post["blocks"] if b["type"] == "section"]
    assert sections == [
        "*Out this week*\n• Ana Ruiz: out 2026-12-14 to 2026-12-18; Acme Corp covered by Ben Cho (renewing), "
        "Globex covered by Ben Cho (Lighthouse save plan)",
        # Slack's markup characters in a customer's subject are escaped.
        "*Waiting in the pooled mailbox*\n"
        "• 'SSO &amp; &lt;login&gt; broken' from Jo Park (Acme Corp): 26h00 working hours left; TA Ana Ruiz\n"
        "• 'Pricing question' from sam@newco.test: 40h00 working hours left; no TA",
        "*Health category changes, past week*\n"
        "• Globex: red → green on 2026-12-09 (score 7.5); TA Ana Ruiz\n"
        "• Initech: yellow → red on 2026-12-12 (score 3.0); TA Ben Cho",
        "*Entering the 120-day renewal process*\n"
        "• Initech renews 2027-04-14 (in 121 days): its renewal process starts 2026-12-15; TA Ben Cho",
        "*MBRs and QBRs coming*\n"
        "• MBRs this week, 2026-12-14 to 2026-12-20 (second week of December): 30 minutes per TA with the "
        "TA Director and TS VP on their Top 3 accounts",
        "*Actions that failed, past week*\n"
        "• slack.message to ana@example.com, failed 2026-12-10: Slack chat.postMessage: channel_not_found "
        "(it was: Acme Corp renews 2026-12-18)\n"
        "• and 1 older failure: `taops outbox --failed` lists them",
    ]
    assert [b["type"] for b in post["blocks"]] == ["header", "context"] + ["divider", "section"] * 6 + [
        "context"
    ]
    assert post["blocks"][-1]["elements"][0]["text"] == (
        "Why you: the Monday digest for the team meeting, week 2026-W51."
    )


def test_an_empty_week_says_nothing_in_every_section(book_data, policy) -> None:
    store = EmbeddedStore()
    replay([], parse_book(book_data), policy, store=store)
    quiet = at("2026-11-23T08:00:00")  # Thanksgiving week: no review week within 14 days
    [owed, _] = preview(store, policy, quiet, [JOB])
    assert owed.decision is not None
    [action] = owed.decision.actions
    sections = [b["text"]["text"] for b in action.model_dump()["blocks"] if b["type"] == "section"]
    assert sections == [
        "*Out this week*\nNothing: everyone is in.",
        "*Waiting in the pooled mailbox*\nNothing is waiting for a team reply.",
        "*Health category changes, past week*\nNothing changed category.",
        "*Entering the 120-day renewal process*\nNothing enters the renewal process.",
        "*MBRs and QBRs coming*\nNothing in the next 14 days.",
        "*Actions that failed, past week*\nNothing failed.",
    ]


@pytest.mark.parametrize(
    ("monday", "reviews"),
    [
        # The second week of February 2027 and FY2028's first quarter start (1 February).
        (
            "2027-01-25",
            [
                "Internal QBRs next week, 2027-02-01 to 2027-02-07 (first week of FY2028 Q1): "
                "60 minutes per AE; TAs join for the accounts they share",
                "MBRs in 2 weeks, 2027-02-08 to 2027-02-14 (second week of February): "
                "30 minutes per TA with the TA Director and TS VP on their Top 3 accounts",
            ],
        ),
        # November 2026: FY2027 Q4 begins on Sunday the 1st; its first week is the 2nd to the 8th.
        (
            "2026-10-26",
            [
                "Internal QBRs next week, 2026-11-02 to 2026-11-08 (first week of FY2027 Q4): "
                "60 minutes per AE; TAs join for the accounts they share",
                "MBRs in 2 weeks, 2026-11-09 to 2026-11-15 (second week of November): "
                "30 minutes per TA with the TA Director and TS VP on their Top 3 accounts",
            ],
        ),
    ],
)
def test_mbr_and_qbr_weeks_coming_follow_the_fiscal_calendar(book_data, policy, monday, reviews) -> None:
    store = EmbeddedStore()
    replay([], parse_book(book_data), policy, store=store)
    [owed, _] = preview(store, policy, at(f"{monday}T08:00:00"), [JOB])
    assert owed.decision is not None
    body = owed.decision.actions[0].model_dump()["blocks"]
    [section] = [
        b["text"]["text"] for b in body if b["type"] == "section" and "MBRs and QBRs" in b["text"]["text"]
    ]
    assert section == "*MBRs and QBRs coming*\n" + "\n".join(f"• {r}" for r in reviews)
