"""The OOO protocol's notices: every message and setting a coverage plan calls for, each an
``Action`` with its reason and an idempotency key that carries the content that matters
(the dates, the cover), so re-deriving an unchanged plan derives the same keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.messages import render
from shared.models import Action, utc_text
from shared.policy import Policy
from shared.rules.business_hours import is_business_day, next_working_time
from shared.rules.coverage import Window
from shared.rules.ooo.plan import Drawn, Row, name_of

MS = 1000


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def working_day_before(day: date, policy: Policy) -> date:
    day -= timedelta(days=1)
    while not is_business_day(day, policy.calendar):
        day -= timedelta(days=1)
    return day


def slack_target(people: Mapping[str, Mapping[str, Any]], email: str) -> str | None:
    return (people.get(email) or {}).get("slack_id")


def plan_blocks(title: str, plan_text: str) -> list[dict[str, Any]]:
    """The plan as Slack Block Kit: a header, the summary, then the table in monospace."""
    heading, _, table = plan_text.partition("\n")
    return [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": heading}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{table.strip()[:2900]}```"}},
    ]


def direct_message(
    people: Mapping[str, Mapping[str, Any]],
    person: str,
    key: str,
    reason: str,
    text: str,
    subject: str,
    now: datetime,
    absence_id: str,
    blocks: list[dict[str, Any]] | None = None,
) -> Action:
    """A message to one person: a Slack DM when the directory has their Slack id, else email.
    Slack gets Block Kit ``blocks`` when given, with ``text`` as the notification fallback."""
    channel = slack_target(people, person)
    if channel:
        extra = {"blocks": blocks} if blocks else {}
        return Action(
            kind="slack.message",
            at=now,
            recipients=[person],
            reason=reason,
            idempotency_key=key,
            channel=channel,
            text=text,
            absence_id=absence_id,
            **extra,
        )
    return Action(
        kind="email.send",
        at=now,
        recipients=[person],
        reason=reason,
        idempotency_key=key,
        to=[person],
        subject=subject,
        body=text,
        absence_id=absence_id,
    )


@dataclass(frozen=True)
class Notices:
    """The notices of one absence's plan, derived at ``now``."""

    absence_id: str
    ta: Mapping[str, Any]
    window: Window
    people: Mapping[str, Mapping[str, Any]]
    policy: Policy
    now: datetime

    @property
    def ta_email(self) -> str:
        return str(self.ta["email"])

    @property
    def ta_name(self) -> str:
        return name_of(self.people, self.ta_email)

    @property
    def days(self) -> dict[str, str]:
        return {"first_day": self.window.first_day.isoformat(), "last_day": self.window.last_day.isoformat()}

    @property
    def dates(self) -> str:
        return f"{self.window.first_day.isoformat()}:{self.window.last_day.isoformat()}"

    def action(
        self,
        kind: str,
        key: str,
        recipients: list[str],
        reason: str,
        *,
        account_id: str | None = None,
        not_before: datetime | None = None,
        **fields: Any,
    ) -> Action:
        return Action(
            kind=kind,
            at=self.now,
            not_before=not_before,
            recipients=recipients,
            account_id=account_id,
            reason=reason,
            idempotency_key=key,
            absence_id=self.absence_id,
            **fields,
        )

    def dm(
        self, person: str, key: str, reason: str, text: str, subject: str, blocks: list[Any] | None = None
    ) -> Action:
        return direct_message(
            self.people, person, key, reason, text, subject, self.now, self.absence_id, blocks
        )

    def plan(self, drawn: Drawn, status: str, review: list[str]) -> list[Action]:
        """The plan to the TA and their manager: for review while draft, final once shared.
        By email to both, and by Slack to whoever has a Slack id."""
        days, share = self.days, drawn.share
        text = render(
            "plan",
            draft=not share,
            ta_name=self.ta_name,
            rows=drawn.rows,
            quiet=drawn.plan.accounts_without_cover_needs,
            notes=drawn.notes,
            **days,
        )
        stage = "shared" if share else "draft"
        items = [(i.account_id, i.cover) for i in drawn.plan.items]
        key = f"ooo:{self.absence_id}:plan:{stage}:{digest([self.dates, items])}"
        title = "Coverage plan" if share else "Draft coverage plan"
        subject = f"{title}: {self.ta_name}, {days['first_day']} to {days['last_day']}"
        logged = f"{self.ta_name} logged time off {days['first_day']} to {days['last_day']}"
        actions = [
            self.action(
                "email.send",
                key + ":email",
                review,
                f"{logged} ({status.lower()})",
                to=review,
                subject=subject,
                body=text,
            )
        ]
        for person in review:
            if slack_target(self.people, person):  # the email above already reaches the others
                actions.append(
                    self.dm(
                        person,
                        f"{key}:slack:{person}",
                        f"{stage} coverage plan for {self.ta_name}",
                        text,
                        subject,
                        plan_blocks(subject, text),
                    )
                )
        return actions

    def team(self, member: str, rows: Sequence[Row]) -> Action:
        """An account team member (AE, CE, IE): their accounts in the plan and who covers them."""
        covered = [(r["id"], r["cover"]) for r in rows]
        key = f"ooo:{self.absence_id}:team:{member}:{digest([self.dates, covered])}"
        return self.dm(
            member,
            key,
            f"{self.ta_name} is away; {len(rows)} of your accounts are covered",
            render("team", ta_name=self.ta_name, rows=rows, **self.days),
            f"{self.ta_name} is out of office",
        )

    def cover(self, cover: str, rows: Sequence[Row]) -> Action:
        """A cover: the accounts they cover."""
        key = f"ooo:{self.absence_id}:cover:{cover}:{digest([self.dates, [r['id'] for r in rows]])}"
        return self.dm(
            cover,
            key,
            f"you cover {len(rows)} account(s) for {self.ta_name}",
            render("cover", ta_name=self.ta_name, rows=rows, **self.days),
            f"You are covering for {self.ta_name}",
        )

    def renewal_task(self, row: Row) -> Action:
        """A renewing account: a Vitally task to resolve pending action items before leaving,
        due the working day before the absence."""
        due = working_day_before(self.window.first_day, self.policy)
        return self.action(
            "vitally.task",
            f"ooo:{self.absence_id}:{row['id']}:renewal-task:{due.isoformat()}",
            [self.ta_email],
            f"{row['name']} {row['why'].split(';')[0]}: resolve pending action items before you leave",
            account_id=row["id"],
            vitally_account_id=row["account"].get("vitally_id"),
            name=f"Resolve pending action items before OOO ({self.days['first_day']})",
            due_date=due.isoformat(),
            assignee=self.ta_email,
        )

    def calendar_review(self, accounts: Sequence[Mapping[str, Any]]) -> Action:
        """Customer syncs in the window: found in the TA's calendar at delivery, AEs kept informed."""
        return self.action(
            "calendar.review",
            f"ooo:{self.absence_id}:calendar-review:{self.dates}",
            [self.ta_email],
            "customer syncs during your absence need rescheduling (AEs kept informed)",
            user=self.ta_email,
            ta_channel=slack_target(self.people, self.ta_email),
            time_min=utc_text(self.window.start),
            time_max=utc_text(self.window.end),
            company_domains=list(self.policy.group_mail.company_domains),
            accounts=[
                {
                    "id": str(a["id"]),
                    "name": a.get("name"),
                    "ae": a.get("ae"),
                    "ae_channel": slack_target(self.people, str(a["ae"])) if a.get("ae") else None,
                    "domains": sorted({c.rsplit("@", 1)[-1] for c in a.get("champions") or []}),
                }
                for a in accounts
            ],
        )

    def vacation(self, covers: Mapping[str, Sequence[Row]]) -> Action:
        """The Gmail autoresponder for the window, naming the covers (Gmail applies start and end)."""
        days, coverage = self.days, self.policy.coverage
        cover_lines = [
            {"name": name_of(self.people, c), "email": c, "accounts": ", ".join(r["name"] for r in rs)}
            for c, rs in covers.items()
        ]
        return self.action(
            "gmail.vacation",
            f"ooo:{self.absence_id}:vacation:{self.dates}:{digest(cover_lines)}",
            [self.ta_email],
            f"autoresponder for {days['first_day']} to {days['last_day']}",
            user=self.ta_email,
            enable=True,
            subject=f"Out of office until {days['last_day']}",
            body=render("vacation", ta_name=self.ta_name, covers=cover_lines, **days),
            start_ms=str(int(self.window.start.timestamp() * MS)),
            end_ms=str(int(self.window.end.timestamp() * MS)),
            restrict_to_domain=coverage.autoresponder_restrict_to_domain,
            restrict_to_contacts=coverage.autoresponder_restrict_to_contacts,
        )

    def slack_status(self) -> Action:
        """The Slack status, set when the absence starts (Slack has no start time), expiring at its end."""
        ooo = f"OOO {self.days['first_day']} to {self.days['last_day']}"
        return self.action(
            "slack.status",
            f"ooo:{self.absence_id}:slack-status:{self.dates}",
            [self.ta_email],
            ooo,
            not_before=self.window.start,
            user=slack_target(self.people, self.ta_email),
            status_text=ooo,
            status_emoji=":palm_tree:",
            status_expiration=int(self.window.end.timestamp()),
        )

    def customer_notice_at(self) -> datetime | None:
        """When customers are told: the policy's days ahead, in the TA's working hours
        (design §5: a customer-facing email is sent in the TA's working hours)."""
        ahead = timedelta(days=self.policy.coverage.customer_notice_days_before)
        opens = next_working_time(
            max(self.now, self.window.start - ahead),
            str(self.ta.get("timezone") or "UTC"),
            self.policy.calendar,
        )
        return None if opens <= self.now else opens

    def customer(self, row: Row, notice_at: datetime | None) -> Action | None:
        """An account's customers told of the absence and their cover: the champions by
        email, else the shared Slack channel; nothing when the account has neither."""
        account = row["account"]
        text = render(
            "customer",
            account=row["name"],
            ta_name=self.ta_name,
            cover=row["cover"],
            cover_name=row["cover_name"],
            **self.days,
        )
        key = f"ooo:{self.absence_id}:{row['id']}:customer-notice:{self.dates}:{row['cover']}"
        ahead = self.policy.coverage.customer_notice_days_before
        why = f"{row['name']} told of {self.ta_name}'s absence {ahead} days ahead"
        if account.get("champions"):
            return self.action(
                "email.send",
                key,
                list(account["champions"]),
                why,
                account_id=row["id"],
                not_before=notice_at,
                to=list(account["champions"]),
                cc=[self.ta_email],
                subject=f"{self.ta_name} out of office",
                body=text,
            )
        if account.get("slack_channel"):
            return self.action(
                "slack.message",
                key,
                [],
                why,
                account_id=row["id"],
                not_before=notice_at,
                channel=account["slack_channel"],
                text=text,
            )
        return None

    def removed(self, person: str) -> Action:
        """Someone told before who no longer covers or has accounts in the plan."""
        return self.dm(
            person,
            f"ooo:{self.absence_id}:{person}:removed:{self.dates}",
            "the coverage plan changed",
            render("removed", ta_name=self.ta_name, **self.days),
            f"{self.ta_name}'s coverage plan changed",
        )

    def withdrawn(self, person: str, outcome: str) -> Action:
        """Someone told of the plan hears that the time off is off."""
        return self.dm(
            person,
            f"ooo:{self.absence_id}:{person}:withdrawn",
            self.withdrawn_reason(outcome),
            render("withdrawn", ta_name=self.ta_name, outcome=outcome, **self.days),
            "Time off withdrawn",
        )

    def withdrawn_reason(self, outcome: str) -> str:
        return f"time off {self.days['first_day']} to {self.days['last_day']} is {outcome}"

    def vacation_off(self, outcome: str) -> Action:
        return self.action(
            "gmail.vacation",
            f"ooo:{self.absence_id}:vacation-off",
            [self.ta_email],
            f"{self.withdrawn_reason(outcome)}: autoresponder removed",
            user=self.ta_email,
            enable=False,
        )
