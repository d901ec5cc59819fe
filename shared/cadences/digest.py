"""The Monday digest, for the team meeting: who is out this week and who covers what,
the pooled mailbox's threads waiting with their time left, health category changes of the
past week, accounts entering the 120-day renewal process, MBR and QBR weeks coming, and
actions that failed.

Per the policy's ``digest.to``: ``each_ta`` gives each TA their own (``digest:{week}:{ta}``,
routed and held for their working hours like every message to a person): the team's
absences and review weeks, and for the rest their own accounts (and the mailbox threads no
TA owns yet). ``team_channel`` posts one (``digest:{week}``) with everything to
``group_mail.slack_channel``, in the pooled team's working hours.

The period is the ISO week (``2026-W50``) in the job's time zone, Monday to Sunday: a
late tick still sends that week's digest once; a week that is over is never sent.
Everything is read when the digest is decided, with bounded queries: absences not ended by
Monday, waiting threads, health changes and failed actions since last Monday, accounts
renewing within the next 127 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.book import ACCOUNTS, PEOPLE
from shared.cadences import Due, register
from shared.cadences.digest_templates import Rendered, render
from shared.handlers.common import ABSENCES, COVERAGE_PLANS, HEALTH_CHANGES, MAIL_THREADS, ViewDirectory
from shared.models import Action, utc_text
from shared.policy import Policy
from shared.processing import OUTBOX, Decision, ReadView
from shared.rules.business_hours import next_working_time
from shared.rules.coverage import AWAY_STATUSES
from shared.rules.fiscal import fiscal_quarter, nth_week_of_month
from shared.rules.notify import tell
from shared.rules.renewal import process_starts_on
from shared.rules.routing import name_of
from shared.rules.sla import time_left
from shared.store import Store, Where

JOB = "weekly-digest"
CADENCE = "digest"
TEAM = "team"
ROLES = {"TA_MANAGER": "TA manager", "TA_DIRECTOR": "TA director", "TS_VP": "TS VP"}
REASONS = {
    "renewing": "renewing",
    "lighthouse": "Lighthouse save plan",
    "slack_active_with_tickets": "tickets open",
}


def time_zone(policy: Policy) -> str:
    """Where the week begins: the job's schedule's zone."""
    scheduled = policy.cadence(JOB)
    return scheduled.time_zone if scheduled else policy.group_mail.time_zone


def week_of(now: datetime, zone: str) -> tuple[date, str]:
    """The Monday of ``now``'s week in ``zone``, and its ISO label (``2026-W50``)."""
    local = now.astimezone(ZoneInfo(zone)).date()
    monday = local - timedelta(days=local.weekday())
    year, week, _ = monday.isocalendar()
    return monday, f"{year}-W{week:02d}"


def digest_key(period: str, subject: str) -> str:
    return f"{CADENCE}:{period}" if subject == TEAM else f"{CADENCE}:{period}:{subject}"


@dataclass(frozen=True)
class Week:
    monday: date
    period: str
    zone: str
    start: datetime  # Monday 00:00 in the zone
    end: datetime  # the next Monday 00:00
    since: datetime  # the Monday before: "the past week" runs from here

    @classmethod
    def of(cls, now: datetime, zone: str) -> Week:
        monday, period = week_of(now, zone)
        start = datetime.combine(monday, time(0), tzinfo=ZoneInfo(zone))
        return cls(monday, period, zone, start, start + timedelta(days=7), start - timedelta(days=7))

    def day(self, moment: str) -> str:
        return datetime.fromisoformat(moment).astimezone(ZoneInfo(self.zone)).date().isoformat()


def _hours(value: float) -> str:
    minutes = round(abs(value) * 60)
    return f"{minutes // 60}h{minutes % 60:02d}"


class Gather:
    """The digest's rows, read through the view; ``ta`` narrows the account sections to
    that TA's accounts (None: the whole team)."""

    def __init__(self, view: ReadView, policy: Policy, now: datetime, week: Week, ta: str | None) -> None:
        self.view, self.policy, self.now, self.week, self.ta = view, policy, now, week, ta
        self.directory = ViewDirectory(view, now)
        self._accounts: dict[str, dict[str, Any] | None] = {}
        # The accounts ``ta`` covers this week for someone away (from the shared plans):
        # theirs too, for the week. Filled by ``out``, which runs first.
        self.covering: set[str] = set()

    def name(self, email: str | None) -> str:
        return name_of(self.directory, email) if email else "-"

    def account(self, account_id: str | None) -> dict[str, Any] | None:
        if not account_id:
            return None
        if account_id not in self._accounts:
            self._accounts[account_id] = self.view.get(ACCOUNTS, account_id)
        return self._accounts[account_id]

    def account_name(self, account_id: str | None) -> str | None:
        account = self.account(account_id)
        return str(account.get("name") or account_id) if account else account_id

    def mine(self, account: dict[str, Any] | None) -> bool:
        """The row is for this digest: the team's, or the TA's account or one they cover."""
        if self.ta is None:
            return True
        return account is not None and (account.get("ta") == self.ta or account.get("id") in self.covering)

    def ta_label(self, email: Any) -> str | None:
        """Whose a row is: named in the team's digest (a TA's own digest is all theirs)."""
        if not email:
            return "no TA"
        return None if self.ta is not None else f"TA {self.name(str(email))}"

    def out(self) -> list[dict[str, Any]]:
        # Absences not ended by Monday (one range: the automatic single-field index) that
        # begin before the week ends.
        begins, ends = utc_text(self.week.start.astimezone(UTC)), utc_text(self.week.end.astimezone(UTC))
        rows = []
        for absence_id, doc in self.view.query(ABSENCES, Where("ends_at", ">", begins)):
            if doc.get("status") not in AWAY_STATUSES or str(doc.get("starts_at")) >= ends:
                continue
            person = self.directory.person(str(doc.get("person"))) or {}
            role = str(person.get("role") or "")
            plan = self.view.get(COVERAGE_PLANS, absence_id)
            live = plan is not None and plan.get("status") != "withdrawn"
            covers = [
                {
                    "account": self.account_name(item.get("account_id")),
                    "cover": self.name(item.get("cover")),
                    "why": ", ".join(REASONS.get(r, r) for r in item.get("reasons") or []),
                }
                for item in (plan or {}).get("items") or []
                if live
            ]
            if plan is not None and plan.get("status") == "shared":
                self.covering |= {
                    str(i.get("account_id")) for i in plan.get("items") or [] if i.get("cover") == self.ta
                }
            note = None
            if role == "TA" and not covers:
                note = "no account needs cover" if live else "no coverage plan yet"
            rows.append(
                {
                    "name": self.name(str(doc.get("person"))),
                    "role": ROLES.get(role, role if role != "TA" else ""),
                    "first_day": doc.get("start_date"),
                    "last_day": doc.get("end_date"),
                    "requested": doc.get("status") == "REQUESTED",
                    "draft": live and plan is not None and plan.get("status") == "draft",
                    "covers": covers,
                    "note": note,
                    "_order": (str(doc.get("starts_at")), str(doc.get("person"))),
                }
            )
        return _ordered(rows)

    def threads(self) -> list[dict[str, Any]]:
        group = self.policy.group_mail
        unit = "hours" if group.sla_clock == "calendar" else "working hours"
        rows = []
        for _, thread in self.view.query(MAIL_THREADS, Where("waiting", "==", True)):
            owned = thread.get("ta") is not None
            if owned and not self.mine(self.account(thread.get("account_id")) or {"ta": thread.get("ta")}):
                continue
            left = time_left(thread, group, self.policy.calendar, self.now)
            level = thread.get("sla_level")
            rows.append(
                {
                    "subject": thread.get("subject") or "(no subject)",
                    "customer": thread.get("customer_name") or thread.get("customer_address") or "a customer",
                    "account": self.account_name(thread.get("account_id")),
                    "left": (
                        "no deadline"
                        if left is None
                        else f"{_hours(left)} {unit} left"
                        if left >= 0
                        else f"SLA breached {_hours(left)} {unit} ago"
                    ),
                    "reached": None
                    if level is None
                    else ("the reminder" if level == 0 else f"escalation step {level}"),
                    "ta": self.ta_label(thread.get("ta")),
                    "_order": (str(thread.get("deadline_at")), str(thread.get("thread_id"))),
                }
            )
        return _ordered(rows)

    def health(self) -> list[dict[str, Any]]:
        since = utc_text(self.week.since.astimezone(UTC))
        rows = []
        for _, change in self.view.query(HEALTH_CHANGES, Where("at", ">=", since)):
            if str(change.get("at")) > utc_text(self.now):
                continue
            account = self.account(change.get("account_id"))
            if not self.mine(account):
                continue
            rows.append(
                {
                    "account": self.account_name(change.get("account_id")),
                    "old": change.get("old_category"),
                    "new": change.get("new_category"),
                    "day": self.week.day(str(change["at"])),
                    "score": change.get("score"),
                    "ta": self.ta_label((account or {}).get("ta")),
                    "_order": (str(change.get("at")), str(change.get("account_id"))),
                }
            )
        return _ordered(rows)

    def renewals(self) -> list[dict[str, Any]]:
        """Accounts whose process starts (120 days out) from last Monday to this Sunday, and
        those a renewal date that moved brought inside the window during the past week."""
        renewal = self.policy.renewal
        first = self.week.monday - timedelta(days=7)
        last = self.week.monday + timedelta(days=7)
        horizon = last + timedelta(days=renewal.process_starts_days_before)
        found = self._renewing(first.isoformat(), horizon.isoformat())
        since = utc_text(self.week.since.astimezone(UTC))
        rows = []
        for account_id, account in found:
            self._accounts.setdefault(account_id, account)
            if not self.mine(account):
                continue
            renews = date.fromisoformat(str(account["renewal_date"])[:10])
            starts = process_starts_on(renews, renewal)
            process = account.get("renewal_process") or {}
            started = (
                process.get("started_at") if process.get("renewal_date") == account["renewal_date"] else None
            )
            if not (first <= starts < last or (started and str(started) >= since)):
                continue
            rows.append(
                {
                    "account": account.get("name") or account_id,
                    "renewal": renews.isoformat(),
                    "days": (renews - self.now.astimezone(ZoneInfo(self.week.zone)).date()).days,
                    "starts": starts.isoformat(),
                    "started": self.week.day(str(started)) if started else None,
                    "ta": self.ta_label(account.get("ta")),
                    "_order": (starts.isoformat(), account_id),
                }
            )
        return _ordered(rows)

    def _renewing(self, first: str, horizon: str) -> list[tuple[str, dict[str, Any]]]:
        """The accounts renewing from ``first`` to before ``horizon`` that this digest
        shows: for the team every one (a range on ``renewal_date``); for a TA their own
        book and the accounts they cover (read by key), so each TA's digest costs their
        book, not the company's."""
        if self.ta is None:
            return self.view.query(
                ACCOUNTS, Where("renewal_date", ">=", first), Where("renewal_date", "<", horizon)
            )
        mine = dict(self.view.query(ACCOUNTS, Where("ta", "==", self.ta)))
        for account_id in sorted(self.covering - mine.keys()):
            account = self.account(account_id)
            if account is not None:
                mine[account_id] = account
        # The range as the query compares it: a string renewal date only.
        return sorted(
            (account_id, account)
            for account_id, account in mine.items()
            if type(renews := account.get("renewal_date")) is str and first <= renews < horizon
        )

    def reviews(self) -> list[dict[str, Any]]:
        """MBR weeks (the second week of each month) and internal QBR weeks (the first week
        of each fiscal quarter) that begin within ``digest.lookahead_days``."""
        calendar = self.policy.calendar
        monday = self.week.monday
        ahead = monday + timedelta(days=self.policy.digest.lookahead_days)
        rows: list[dict[str, Any]] = []
        # The months the window touches: each has its MBR week and lies in a fiscal quarter.
        seen_months = {(monday + timedelta(days=d)).replace(day=1) for d in range((ahead - monday).days + 1)}
        for month in sorted(seen_months):
            first, last = nth_week_of_month(2, month.year, month.month, calendar.week_rule)
            if monday <= first <= ahead:
                rows.append(
                    {
                        "what": "MBRs",
                        "first": first.isoformat(),
                        "last": last.isoformat(),
                        "which": f"second week of {month:%B}",
                        "detail": "30 minutes per TA with the TA Director and TS VP on their Top 3 accounts",
                        "_order": (first.isoformat(), "1"),
                    }
                )
        starts = {fiscal_quarter(month, calendar).start for month in seen_months}
        starts |= {fiscal_quarter(month, calendar).end for month in seen_months}
        for start in sorted(starts):
            first, last = nth_week_of_month(1, start.year, start.month, calendar.week_rule)
            if monday <= first <= ahead:
                rows.append(
                    {
                        "what": "Internal QBRs",
                        "first": first.isoformat(),
                        "last": last.isoformat(),
                        "which": f"first week of {fiscal_quarter(start, calendar).label}",
                        "detail": "60 minutes per AE; TAs join for the accounts they share",
                        "_order": (first.isoformat(), "2"),
                    }
                )
        for row in rows:
            weeks = (date.fromisoformat(row["first"]) - monday).days // 7
            row["when"] = "this week" if weeks == 0 else "next week" if weeks == 1 else f"in {weeks} weeks"
        return _ordered(rows)

    def failed(self) -> tuple[list[dict[str, Any]], int]:
        """Actions that failed since last Monday (by their last attempt), and how many
        older failures are still on record."""
        since = utc_text(self.week.since.astimezone(UTC))
        rows, older = [], 0
        for action_id, doc in self.view.query(OUTBOX, Where("status", "==", "failed")):
            account = self.account(doc.get("account_id"))
            people = {*(doc.get("recipients") or []), *(doc.get("meant_for") or [])}
            if self.ta is not None and self.ta not in people and not self.mine(account):
                continue
            attempts = doc.get("attempt_log") or []
            when = str((attempts[-1] if attempts else {}).get("at") or doc.get("at"))
            if when < since:
                older += 1
                continue
            reason = str(doc.get("reason") or "")
            rows.append(
                {
                    "kind": doc.get("kind"),
                    "to": ", ".join(doc.get("recipients") or []) or doc.get("channel") or "-",
                    "day": self.week.day(when),
                    "error": str(doc.get("last_error") or "no error recorded")[:160],
                    "reason": reason if len(reason) <= 160 else reason[:159] + "…",
                    "_order": (when, action_id),
                }
            )
        return _ordered(rows), older


def _ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in row.items() if k != "_order"} for row in sorted(rows, key=lambda r: r["_order"])
    ]


@dataclass(frozen=True)
class Content:
    """The digest's rows by section, read once; rendered for each channel."""

    title: str
    scope: str
    sections: dict[str, list[dict[str, Any]]]
    extra: dict[str, Any]

    def render(self, why: str) -> Rendered:
        return render(self.title, self.scope, self.sections, self.extra, why)


def gather(view: ReadView, policy: Policy, now: datetime, ta: str | None) -> Content:
    """What the digest of ``now``'s week says, for ``ta`` (None: the team)."""
    week = Week.of(now, time_zone(policy))
    found = Gather(view, policy, now, week, ta)
    out = found.out()  # first: it learns which accounts the TA covers this week
    failed, older = found.failed()
    sections = {
        "out": out,
        "threads": found.threads(),
        "health": found.health(),
        "renewals": found.renewals(),
        "reviews": found.reviews(),
        "failed": failed,
    }
    scope = (
        "For the team: everything taops knows this morning."
        if ta is None
        else f"For {found.name(ta)}: the team's absences and review weeks; your accounts (and those "
        "you cover this week), and the mailbox threads no TA owns yet."
    )
    return Content(
        f"Monday digest, week of {week.monday.isoformat()} ({week.period})",
        scope,
        sections,
        {"older": older, "lookahead": policy.digest.lookahead_days},
    )


class WeeklyDigest:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        _, period = week_of(now, time_zone(policy))
        if policy.digest.to == "team_channel":
            return [Due(JOB, TEAM, period, digest_key(period, TEAM))]
        tas = sorted(email for email, _ in store.query(PEOPLE, Where("role", "==", "TA")))
        return [Due(JOB, ta, period, digest_key(period, ta)) for ta in tas]

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        reason = f"the Monday digest for the team meeting, week {due.period}"
        if due.subject == TEAM:
            return _to_channel(view, due, policy, now, reason)
        person = view.get(PEOPLE, due.subject)
        if person is None or person.get("role") != "TA":
            return Decision(notes=[f"{due.subject} is no longer a TA: no digest"])
        content = gather(view, policy, now, due.subject)
        told = tell(
            due.subject,
            key=due.key,
            reason=reason,
            subject=content.title,
            text=content.render(reason).text,
            account_id=None,
            directory=ViewDirectory(view, now),
            calendar=policy.calendar,
            now=now,
            cadence=CADENCE,
            period=due.period,
        )
        action = told.action
        if action.kind == "slack.message":
            # Slack shows the blocks (ending with why this person hears it); the text is
            # the notification's.
            rendered = content.render(str(action.reason))
            action = Action.model_validate(
                {**action.model_dump(), "text": rendered.summary, "blocks": rendered.blocks}
            )
        summary = content.render(reason).summary.partition(": ")[2]
        return Decision(actions=[action], notes=[f"digest {due.period} to {told.note}: {summary}"])


def _to_channel(view: ReadView, due: Due, policy: Policy, now: datetime, reason: str) -> Decision:
    group = policy.group_mail
    channel = group.slack_channel
    if not channel:
        return Decision(
            notes=["digest.to is team_channel but group_mail.slack_channel is not set: no digest"]
        )
    rendered = gather(view, policy, now, None).render(reason)
    opens = next_working_time(now, group.time_zone, policy.calendar)
    action = Action(
        kind="slack.message",
        at=now,
        not_before=opens if opens > now else None,
        recipients=[],
        account_id=None,
        reason=reason,
        idempotency_key=due.key,
        channel=channel,
        text=rendered.summary,
        blocks=rendered.blocks,
        cadence=CADENCE,
        period=due.period,
    )
    held = f", held until {opens:%Y-%m-%d %H:%M} UTC" if opens > now else ""
    summary = rendered.summary.partition(": ")[2]
    return Decision(actions=[action], notes=[f"digest {due.period} to {channel}{held}: {summary}"])


register(WeeklyDigest())
