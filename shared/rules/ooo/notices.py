"""The OOO protocol's notices: every message and setting a coverage plan calls for, each an
``Action`` with its reason and an idempotency key that carries the content that matters
(the dates, the cover), so re-deriving an unchanged plan derives the same keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.messages import listing, plural, render
from shared.models import Action, action_id, utc_text
from shared.policy import Policy
from shared.rules.business_hours import is_business_day, next_working_time
from shared.rules.coverage import Window
from shared.rules.customer_email import SKIPPED, Composed, Emails, History, compose
from shared.rules.ooo.plan import Drawn, Revision, Row, name_of, span
from shared.rules.routing import Directory, Reach, reach

MS = 1000


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _once_each(told: Sequence[Action]) -> list[Action]:
    """Someone away hears through a stand-in: once, if that is the other reviewer."""
    actions: list[Action] = []
    for action in told:
        if not any(action.recipients == a.recipients for a in actions):
            actions.append(action)
    return actions


def _reachable(account: Mapping[str, Any]) -> bool:
    """A notice to this account decided before still stands: it has a way to be told, and
    has not asked to be left alone since (then deriving it again records the skip and
    cancels what waits). Its hold, spacing and working hours were settled when decided."""
    return not account.get("do_not_contact") and bool(
        account.get("champions") or account.get("slack_channel")
    )


def working_day_before(day: date, policy: Policy) -> date:
    day -= timedelta(days=1)
    while not is_business_day(day, policy.calendar):
        day -= timedelta(days=1)
    return day


def slack_target(people: Mapping[str, Mapping[str, Any]], email: str) -> str | None:
    return (people.get(email) or {}).get("slack_id")


def plan_blocks(title: str, plan_text: str, changed: str = "") -> list[dict[str, Any]]:
    """The plan as Slack Block Kit: a header, what changed (if anything), the summary,
    then the table in monospace."""
    heading, _, table = plan_text.partition("\n")
    return [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        *([{"type": "section", "text": {"type": "mrkdwn", "text": changed[:2900]}}] if changed else []),
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
    not_before: datetime | None = None,
    **extra: Any,
) -> Action:
    """A message to one person: a Slack DM when the directory has their Slack id, else email.
    Slack gets Block Kit ``blocks`` when given, with ``text`` as the notification fallback."""
    channel = slack_target(people, person)
    common = {
        "at": now,
        "not_before": not_before,
        "recipients": [person],
        "reason": reason,
        "idempotency_key": key,
        "absence_id": absence_id,
        **extra,
    }
    if channel:
        if blocks:
            common["blocks"] = blocks
        return Action(kind="slack.message", channel=channel, text=text, **common)
    return Action(kind="email.send", to=[person], subject=subject, body=text, **common)


@dataclass(frozen=True)
class Notices:
    """The notices of one absence's plan, derived at ``now``.

    Once a plan has been shared, a change to it is news to people already told: those
    messages open with what changed, go through routing (someone away hears through
    their stand-in, and the reason says for whom) and wait for the working hours of
    whoever reads them (design §5). A first plan goes out at once, as the TA asked for it.
    """

    absence_id: str
    ta: Mapping[str, Any]
    window: Window
    people: Mapping[str, Mapping[str, Any]]
    policy: Policy
    now: datetime
    revision: Revision = field(default_factory=Revision)
    directory: Directory | None = None
    # The customer emails of an account (``shared.rules.customer_email.history``), so a
    # notice keeps its distance from the others; the accounts as they are now (for a
    # withdrawal, whose notices carry only what they told).
    history: History | None = None
    accounts: Mapping[str, Mapping[str, Any]] | None = None
    # This absence's outbox by action id: what was decided before.
    decided: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

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

    @property
    def changes(self) -> list[str]:
        """What changed since the plan stored before (none for a first plan)."""
        return self.revision.changes

    @property
    def headline(self) -> str:
        """What happened, as a reason starts: logged, moved, or changed."""
        days = self.days
        if self.revision.moved_from:
            return (
                f"{self.ta_name}'s time off moved from {self.revision.moved_from} to "
                f"{span(days['first_day'], days['last_day'])}"
            )
        if self.revision.changes:
            return f"{self.ta_name}'s coverage plan changed"
        first, last = days["first_day"], days["last_day"]
        when = f"on {first}" if first == last else f"{first} to {last}"
        return f"{self.ta_name} logged time off {when}"

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

    def standing(self, key: str, reader: str | None = None) -> Action | None:
        """The action of ``key`` as decided before, when it is live (not cancelled: a
        cancelled one is derived again, to revive it). A key carries the content that
        matters, so deriving it again would only make a duplicate: its words need not be
        rendered again. For a message to ``reader``, only while it would still reach the
        same person (who hears it decides who is told the plan no longer includes them)."""
        stored = self.decided.get(action_id(key))
        if stored is None or stored.get("status") == "cancelled":
            return None
        if reader is not None and stored.get("recipients") != [self.reaches(reader)[0]]:
            return None
        return Action.model_validate(stored)

    def reaches(self, person: str) -> tuple[str, Reach | None]:
        """Who reads a message to ``person`` now: themselves for a first plan; once the plan
        had been shared, whoever routing finds (``Reach``)."""
        if not self.revision.was_shared or self.directory is None:
            return person, None
        tz = str(self.ta.get("timezone") or "UTC")
        found = reach(person, self.now, None, self.directory, self.policy.calendar, tz)
        return found.to, found

    def dm(
        self, person: str, key: str, reason: str, text: str, subject: str, blocks: list[Any] | None = None
    ) -> Action:
        """A direct message to ``person``: at once for a first plan; routed and inside the
        reader's working hours once the plan had been shared."""
        _, found = self.reaches(person)
        if found is None:
            return direct_message(
                self.people, person, key, reason, text, subject, self.now, self.absence_id, blocks
            )
        why = f"{reason}; {found.route.reason}" if found.route.reason else reason
        return direct_message(
            self.people,
            found.to,
            key,
            why,
            text,
            subject,
            self.now,
            self.absence_id,
            blocks,
            not_before=found.not_before,
            meant_for=[person],
        )

    def plan(self, drawn: Drawn, status: str, review: list[str]) -> list[Action]:
        """The plan to the TA and their manager, one message each: for review while draft,
        final once shared."""
        days, share = self.days, drawn.share
        stage = "shared" if share else "draft"
        items = [(i.account_id, i.cover) for i in drawn.plan.items]
        key = f"ooo:{self.absence_id}:plan:{stage}:{digest([self.dates, items])}"
        decided = [self.standing(f"{key}:{person}", person) for person in review]
        if decided and all(told is not None for told in decided):
            return _once_each([told for told in decided if told is not None])
        text = render(
            "plan",
            draft=not share,
            ta_name=self.ta_name,
            rows=drawn.rows,
            quiet=drawn.plan.accounts_without_cover_needs,
            notes=drawn.notes,
            **days,
        )
        changed = render("changes", changes=self.changes)
        title = "Coverage plan" if share else "Draft coverage plan"
        subject = f"{title}: {self.ta_name}, {days['first_day']} to {days['last_day']}"
        reason = f"{self.headline} ({status.lower()})"
        if self.changes and not self.revision.moved_from:
            reason = f"{self.headline}: {self.changes[0].rstrip('.')}"
        return _once_each(
            [
                self.dm(
                    person,
                    f"{key}:{person}",
                    reason,
                    "\n".join(filter(None, [changed, text])),
                    subject,
                    plan_blocks(subject, text, changed),
                )
                for person in review
            ]
        )

    def team(self, member: str, rows: Sequence[Row]) -> Action:
        """An account team member (AE, CE, IE): their accounts in the plan and who covers them."""
        covered = [(r["id"], r["cover"]) for r in rows]
        key = f"ooo:{self.absence_id}:team:{member}:{digest([self.dates, covered])}"
        if (decided := self.standing(key, member)) is not None:
            return decided
        verb = "is" if len(rows) == 1 else "are"
        opening = f"{self.ta_name} is away" if not self.changes else self.headline
        return self.dm(
            member,
            key,
            f"{opening}; {len(rows)} of your accounts {verb} covered",
            render("team", ta_name=self.ta_name, rows=rows, changes=self.changes, **self.days),
            f"{self.ta_name} is out of office",
        )

    def cover(self, cover: str, rows: Sequence[Row]) -> Action:
        """A cover: the accounts they cover (and whom they take over from)."""
        key = f"ooo:{self.absence_id}:cover:{cover}:{digest([self.dates, [r['id'] for r in rows]])}"
        if (decided := self.standing(key, cover)) is not None:
            return decided
        taken = [r["name"] for r in rows if r.get("replaces")]
        reason = f"you cover {plural(len(rows), 'account')} for {self.ta_name}"
        if taken:
            reason += f", now including {listing(taken)}"
        elif self.revision.moved_from:
            reason += f": {self.headline}"
        return self.dm(
            cover,
            key,
            reason,
            render("cover", ta_name=self.ta_name, rows=rows, changes=self.changes, **self.days),
            f"You are covering for {self.ta_name}",
        )

    def renewal_task(self, row: Row, due_before: Sequence[str] = ()) -> Action:
        """A renewing account: a Vitally task to resolve pending action items before leaving,
        due the working day before the absence. When the TA already has one for other
        dates (the absence moved), the new one says it replaces it."""
        due = working_day_before(self.window.first_day, self.policy).isoformat()
        reason = f"{row['name']} {row['why'].split(';')[0]}: resolve pending action items before you leave"
        name = f"Resolve pending action items before OOO ({self.days['first_day']})"
        replaced = [d for d in due_before if d != due]
        if replaced:
            reason += f" (replaces the task due {listing(replaced)})"
            name += f", replaces the task due {listing(replaced)}"
        return self.action(
            "vitally.task",
            f"ooo:{self.absence_id}:{row['id']}:renewal-task:{due}",
            [self.ta_email],
            reason,
            account_id=row["id"],
            vitally_account_id=row["account"].get("vitally_id"),
            name=name,
            due_date=due,
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

    def customer_hours(self, at: datetime) -> datetime | None:
        """``at``, or the TA's next working hour after it: a customer-facing message is sent
        in the TA's working hours (design §5). None when that is now."""
        opens = next_working_time(at, str(self.ta.get("timezone") or "UTC"), self.policy.calendar)
        return None if opens <= self.now else opens

    def customer_notice_at(self) -> datetime | None:
        """When customers are told: the policy's days ahead, in the TA's working hours."""
        ahead = timedelta(days=self.policy.coverage.customer_notice_days_before)
        return self.customer_hours(max(self.now, self.window.start - ahead))

    def customer(
        self,
        row: Row,
        notice_at: datetime | None,
        before: Mapping[str, Any] | None = None,
    ) -> Composed:
        """An account's customers told of the absence and their cover: the champions by
        email, else the shared Slack channel; nothing when the account has neither. When
        they were told other dates or another cover (``before``), the notice corrects it."""
        account = row["account"]
        key = f"ooo:{self.absence_id}:{row['id']}:customer-notice:{self.dates}:{row['cover']}"
        if before is not None and before.get("idempotency_key") == key:
            before = None  # this very notice: nothing to correct
        standing = self.standing(key) if _reachable(account) else None
        if standing is not None:
            status = (standing.model_extra or {}).get("status")
            return Composed(action=standing, note=f"{row['name']}: the notice stands ({status})")
        was_days = (
            f"{before['first_day']} to {before['last_day']}" if before and "first_day" in before else ""
        )
        was_cover = before.get("cover") if before else None
        text = render(
            "customer",
            account=row["name"],
            ta_name=self.ta_name,
            cover=row["cover"],
            cover_name=row["cover_name"],
            told_before=before is not None,
            was_days=was_days if was_days != f"{self.days['first_day']} to {self.days['last_day']}" else "",
            was_cover=name_of(self.people, str(was_cover)) if was_cover and was_cover != row["cover"] else "",
            **self.days,
        )
        ahead = self.policy.coverage.customer_notice_days_before
        why = f"{row['name']} told of {self.ta_name}'s absence {ahead} days ahead"
        topic = "out-of-office notice"
        if before is not None:
            why = f"{row['name']} told of the change: {self.headline}"
            topic = "out-of-office update"
        told = {**self.days, "cover": row["cover"], "account_name": row["name"]}
        subject = f"{self.ta_name} out of office"
        return self._to_customers(
            account, row["id"], key, why, text, notice_at, subject, topic, self.told_start(before), **told
        )

    def told_start(self, before: Mapping[str, Any] | None) -> datetime:
        """By when customers must hear: the absence's start, or the start they were told
        before when that is earlier (they expect the TA away from then)."""
        if not before or "first_day" not in before:
            return self.window.start
        zone = ZoneInfo(str(self.ta.get("timezone") or "UTC"))
        told = datetime.combine(date.fromisoformat(str(before["first_day"])), time(0), zone).astimezone(UTC)
        return min(self.window.start, told)

    def _customer_history(self, account_id: str, key: str) -> Emails:
        """The account's customer emails due between two moments (those that count for the
        gap may be all ``history`` gives), less this absence's pending notices: the plan
        derived now replaces them (the same notice, or one it supersedes); with this notice
        as decided before, whatever became of it (a person's cancel stands), and the
        record of its skip."""

        def emails(since: datetime, until: datetime | None) -> list[Mapping[str, Any]]:
            found = self.history(account_id, since, until) if self.history is not None else []
            kept = [
                d
                for d in found
                if not (d.get("absence_id") == self.absence_id and d.get("status") == "pending")
            ]
            for decided in (key, f"{key}:{SKIPPED}"):  # the notice, and the record of its skip
                own = self.decided.get(action_id(decided))
                if (
                    own is not None
                    and own.get("status") != "pending"
                    and all(d.get("id") != own["id"] for d in kept)
                ):
                    kept.append(own)
            return kept

        return emails

    def _to_customers(
        self,
        account: Mapping[str, Any],
        account_id: str,
        key: str,
        why: str,
        text: str,
        earliest: datetime | None,
        subject: str,
        topic: str,
        deadline: datetime,
        **fields: Any,
    ) -> Composed:
        """A message to an account's customers: the champions by email (the TA in copy),
        through ``shared.rules.customer_email`` like every customer email (held for
        review, spaced, in the TA's working hours, never to a do-not-contact account; the
        gap gives way when it would bring the notice after the absence began), else the
        shared Slack channel; nothing for a do-not-contact account."""
        if account.get("champions"):
            return compose(
                {**account, "id": account_id},
                key=key,
                reason=why,
                topic=topic,
                template="note",
                context={"subject": subject, "paragraphs": [text]},
                history=self._customer_history(account_id, key),
                policy=self.policy,
                now=self.now,
                timezone=str(self.ta.get("timezone") or "UTC"),
                earliest=earliest,
                deadline=deadline,
                cc=[self.ta_email],
                absence_id=self.absence_id,
                **fields,
            )
        if account.get("slack_channel") and account.get("do_not_contact"):
            name = account.get("name") or account_id
            return Composed(note=f"{name} is marked do_not_contact: the {topic} is not posted")
        if account.get("slack_channel"):
            action = self.action(
                "slack.message",
                key,
                [],
                why,
                account_id=account_id,
                not_before=self.customer_hours(max(self.now, earliest or self.now)),
                channel=account["slack_channel"],
                text=text,
                **fields,
            )
            return Composed(action=action)
        return Composed()

    def customer_withdrawn(self, notice: Mapping[str, Any], outcome: str) -> Composed:
        """Customers told of the absence hear, through the channel that told them and in
        the TA's working hours, that it is off and their TA stays their contact (unless
        the account has since asked not to be contacted)."""
        account_id = str(notice["account_id"])
        name = str(notice.get("account_name") or account_id)
        now_known = (self.accounts or {}).get(account_id) or {}
        account = {
            "id": account_id,
            "name": name,
            "champions": notice.get("to") or [],
            "slack_channel": notice.get("channel"),
            "do_not_contact": bool(now_known.get("do_not_contact")),
        }
        text = render("customer_withdrawn", account=name, ta_name=self.ta_name, **self.days)
        why = f"{name} told that {self.withdrawn_reason(outcome)}"
        key = f"ooo:{self.absence_id}:{account_id}:customer-withdrawn"
        subject = f"Update: {self.ta_name}'s time off"
        topic = "out-of-office update"
        return self._to_customers(
            account, account_id, key, why, text, None, subject, topic, self.told_start(notice)
        )

    def removed(self, person: str, last_told: str) -> Action:
        """Someone told before (``last_told``: the key of the last message that told them
        of their accounts) who no longer covers or has accounts in the plan: told once per
        message it takes back, however often the plan changes after."""
        return self.dm(
            person,
            f"ooo:{self.absence_id}:{person}:removed:{digest(last_told)}",
            f"{self.ta_name}'s coverage plan changed: you no longer have accounts in it",
            render("removed", ta_name=self.ta_name, changes=self.changes, **self.days),
            f"{self.ta_name}'s coverage plan changed",
        )

    def withdrawn(self, person: str, outcome: str) -> Action:
        """Someone in the team told of the plan hears that the time off is off."""
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
