"""The OOO protocol: what happens when a TA logs time off.

Pure: it takes the PTO event's facts, the TA, the directory, the TA's book, everyone's
absences, the stored plan and the actions already in the outbox for this absence, the
policy and ``now``; it returns the plan and the actions, each with its reason and an
idempotency key derived from what it means. Keys carry the content that matters (the
dates, the cover), so a change of plan sends only what changed and re-deriving an
unchanged plan sends nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.messages import render
from shared.models import Action, CoverageItem, CoveragePlan, utc_text
from shared.policy import Policy
from shared.rules.business_hours import is_business_day, next_working_time
from shared.rules.coverage import Window, choose_covers, cover_reasons

TOLD = frozenset({"published", "delivered"})
MS = 1000


@dataclass
class OooOutcome:
    plan: CoveragePlan | None
    actions: list[Action] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)  # outbox ids of pending actions to cancel
    notes: list[str] = field(default_factory=list)


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _working_day_before(day: date, policy: Policy) -> date:
    day -= timedelta(days=1)
    while not is_business_day(day, policy.calendar):
        day -= timedelta(days=1)
    return day


def _name(people: Mapping[str, Mapping[str, Any]], email: str) -> str:
    return str((people.get(email) or {}).get("name") or email)


def _slack_target(people: Mapping[str, Mapping[str, Any]], email: str) -> str | None:
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
    channel = _slack_target(people, person)
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


def withdraw(
    absence_id: str,
    ta: Mapping[str, Any],
    window: Window,
    outcome: str,
    plan: Mapping[str, Any] | None,
    outbox: Sequence[tuple[str, Mapping[str, Any]]],
    people: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> OooOutcome:
    """Cancel what is not yet done and tell those who were told that it is off."""
    result = OooOutcome(None)
    if plan is not None:
        result.plan = CoveragePlan.model_validate({**plan, "status": "withdrawn"})
    told: set[str] = set()
    vacation_set = False
    for action_id, action in outbox:
        if action.get("status") == "pending":
            result.cancel.append(action_id)
        elif action.get("status") in TOLD and action.get("kind") != "slack.status":
            told.update(action.get("recipients") or [])
            vacation_set = vacation_set or action.get("kind") == "gmail.vacation"
    ta_email = str(ta["email"])
    text = render(
        "withdrawn",
        ta_name=_name(people, ta_email),
        first_day=window.first_day,
        last_day=window.last_day,
        outcome=outcome,
    )
    reason = f"time off {window.first_day} to {window.last_day} is {outcome}"
    for person in sorted(told):
        result.actions.append(
            direct_message(
                people,
                person,
                f"ooo:{absence_id}:{person}:withdrawn",
                reason,
                text,
                "Time off withdrawn",
                now,
                absence_id,
            )
        )
    if vacation_set:
        result.actions.append(
            Action(
                kind="gmail.vacation",
                at=now,
                recipients=[ta_email],
                reason=f"{reason}: autoresponder removed",
                idempotency_key=f"ooo:{absence_id}:vacation-off",
                user=ta_email,
                enable=False,
                absence_id=absence_id,
            )
        )
    result.notes.append(
        f"plan withdrawn ({outcome}): {len(result.cancel)} pending action(s) cancelled, "
        f"{len(told)} person(s) told"
    )
    return result


def plan_absence(
    absence_id: str,
    status: str,
    ta: Mapping[str, Any],
    window: Window,
    people: Mapping[str, Mapping[str, Any]],
    accounts: Sequence[Mapping[str, Any]],
    absences: Sequence[Mapping[str, Any]],
    outbox: Sequence[tuple[str, Mapping[str, Any]]],
    policy: Policy,
    now: datetime,
) -> OooOutcome:
    """The coverage plan for a requested or approved absence, and every action it calls for."""
    ta_email = str(ta["email"])
    needing = [(a, cover_reasons(a, window, policy.coverage)) for a in accounts]
    needing = [(a, r) for a, r in needing if r]
    covers, notes = choose_covers(ta, [a for a, _ in needing], people, absences, window, absence_id)
    share = status == "APPROVED" or (status == "REQUESTED" and policy.coverage.share_at == "requested")
    plan = CoveragePlan(
        absence_id=absence_id,
        ta=ta_email,
        start=window.start,
        end=window.end,
        status="shared" if share else "draft",
        items=[
            CoverageItem(account_id=str(a["id"]), reasons=[code for code, _ in r], cover=covers[str(a["id"])])
            for a, r in needing
            if str(a["id"]) in covers
        ],
        accounts_without_cover_needs=len(accounts) - len(needing),
    )
    rows: list[dict[str, Any]] = [
        {
            "id": str(a["id"]),
            "name": str(a.get("name") or a["id"]),
            "why": "; ".join(s for _, s in r),
            "cover": covers.get(str(a["id"]), "-"),
            "cover_name": _name(people, covers.get(str(a["id"]), "")),
            "renewal": a.get("renewal_date"),
            "health": a.get("health_category"),
            "account": a,
        }
        for a, r in needing
    ]
    days = {"first_day": window.first_day.isoformat(), "last_day": window.last_day.isoformat()}
    ta_name = _name(people, ta_email)
    dates = f"{days['first_day']}:{days['last_day']}"
    manager = ta.get("manager")
    out = OooOutcome(
        plan,
        notes=[
            *notes,
            f"{len(plan.items)} account(s) need cover, {plan.accounts_without_cover_needs} do not",
        ],
    )

    def dm(
        person: str, key: str, reason: str, text: str, subject: str, blocks: list[Any] | None = None
    ) -> None:
        out.actions.append(
            direct_message(people, person, key, reason, text, subject, now, absence_id, blocks)
        )

    def add(
        kind: str,
        key: str,
        recipients: list[str],
        reason: str,
        *,
        account_id: str | None = None,
        not_before: datetime | None = None,
        **fields: Any,
    ) -> None:
        out.actions.append(
            Action(
                kind=kind,
                at=now,
                not_before=not_before,
                recipients=recipients,
                account_id=account_id,
                reason=reason,
                idempotency_key=key,
                absence_id=absence_id,
                **fields,
            )
        )

    # 1. The plan to the TA and their manager: for review while draft, final once shared.
    review = [ta_email, *([manager] if manager else [])]
    plan_text = render(
        "plan",
        draft=not share,
        ta_name=ta_name,
        rows=rows,
        quiet=plan.accounts_without_cover_needs,
        notes=notes,
        **days,
    )
    stage = "shared" if share else "draft"
    plan_key = (
        f"ooo:{absence_id}:plan:{stage}:{_digest([dates, [(i.account_id, i.cover) for i in plan.items]])}"
    )
    title = "Coverage plan" if share else "Draft coverage plan"
    subject = f"{title}: {ta_name}, {days['first_day']} to {days['last_day']}"
    add(
        "email.send",
        plan_key + ":email",
        review,
        f"{ta_name} logged time off {days['first_day']} to {days['last_day']} ({status.lower()})",
        to=review,
        subject=subject,
        body=plan_text,
    )
    for person in review:
        if _slack_target(people, person):  # the email above already reaches the others
            dm(
                person,
                f"{plan_key}:slack:{person}",
                f"{stage} coverage plan for {ta_name}",
                plan_text,
                subject,
                plan_blocks(subject, plan_text),
            )
    if not share:
        out.cancel = _superseded(out.actions, outbox)
        return out

    # 2. Each account team member (AE, CE, IE): one message listing their accounts.
    team: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        for role in ("ae", "ce", "ie"):
            member = row["account"].get(role)
            if member:
                team.setdefault(member, []).append(row)
    for member, member_rows in sorted(team.items()):
        key = (
            f"ooo:{absence_id}:team:{member}:{_digest([dates, [(r['id'], r['cover']) for r in member_rows]])}"
        )
        dm(
            member,
            key,
            f"{ta_name} is away; {len(member_rows)} of your accounts are covered",
            render("team", ta_name=ta_name, rows=member_rows, **days),
            f"{ta_name} is out of office",
        )

    # 3. Each cover: their assignments.
    by_cover: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_cover.setdefault(row["cover"], []).append(row)
    for cover, cover_rows in sorted(by_cover.items()):
        key = f"ooo:{absence_id}:cover:{cover}:{_digest([dates, [r['id'] for r in cover_rows]])}"
        dm(
            cover,
            key,
            f"you cover {len(cover_rows)} account(s) for {ta_name}",
            render("cover", ta_name=ta_name, rows=cover_rows, **days),
            f"You are covering for {ta_name}",
        )

    # 4. Renewing accounts: resolve pending action items before leaving (a Vitally task).
    due = _working_day_before(window.first_day, policy)
    for row in rows:
        if any(
            code.value == "renewing"
            for code in next(i.reasons for i in plan.items if i.account_id == row["id"])
        ):
            add(
                "vitally.task",
                f"ooo:{absence_id}:{row['id']}:renewal-task:{due.isoformat()}",
                [ta_email],
                f"{row['name']} {row['why'].split(';')[0]}: resolve pending action items before you leave",
                account_id=row["id"],
                vitally_account_id=row["account"].get("vitally_id"),
                name=f"Resolve pending action items before OOO ({days['first_day']})",
                due_date=due.isoformat(),
                assignee=ta_email,
            )

    # 5. Customer syncs in the window: found in the TA's calendar at delivery, AEs kept informed.
    add(
        "calendar.review",
        f"ooo:{absence_id}:calendar-review:{dates}",
        [ta_email],
        "customer syncs during your absence need rescheduling (AEs kept informed)",
        user=ta_email,
        ta_channel=_slack_target(people, ta_email),
        time_min=utc_text(window.start),
        time_max=utc_text(window.end),
        company_domains=list(policy.group_mail.company_domains),
        accounts=[
            {
                "id": str(a["id"]),
                "name": a.get("name"),
                "ae": a.get("ae"),
                "ae_channel": _slack_target(people, str(a["ae"])) if a.get("ae") else None,
                "domains": sorted({c.rsplit("@", 1)[-1] for c in a.get("champions") or []}),
            }
            for a in accounts
        ],
    )

    # 6. The Gmail autoresponder for the window, naming the covers (Gmail applies start and end).
    cover_lines = [
        {"name": _name(people, c), "email": c, "accounts": ", ".join(r["name"] for r in rs)}
        for c, rs in sorted(by_cover.items())
    ]
    add(
        "gmail.vacation",
        f"ooo:{absence_id}:vacation:{dates}:{_digest(cover_lines)}",
        [ta_email],
        f"autoresponder for {days['first_day']} to {days['last_day']}",
        user=ta_email,
        enable=True,
        subject=f"Out of office until {days['last_day']}",
        body=render("vacation", ta_name=ta_name, covers=cover_lines, **days),
        start_ms=str(int(window.start.timestamp() * MS)),
        end_ms=str(int(window.end.timestamp() * MS)),
        restrict_to_domain=policy.coverage.autoresponder_restrict_to_domain,
        restrict_to_contacts=policy.coverage.autoresponder_restrict_to_contacts,
    )

    # 7. The Slack status, set when the absence starts (Slack has no start time), expiring at its end.
    add(
        "slack.status",
        f"ooo:{absence_id}:slack-status:{dates}",
        [ta_email],
        f"OOO {days['first_day']} to {days['last_day']}",
        not_before=window.start,
        user=_slack_target(people, ta_email),
        status_text=f"OOO {days['first_day']} to {days['last_day']}",
        status_emoji=":palm_tree:",
        status_expiration=int(window.end.timestamp()),
    )

    # 8. Customers told ahead of time through their channel.
    # A customer-facing email goes out in the TA's working hours (design §5).
    opens = next_working_time(
        max(now, window.start - timedelta(days=policy.coverage.customer_notice_days_before)),
        str(ta.get("timezone") or "UTC"),
        policy.calendar,
    )
    notice_at = None if opens <= now else opens
    for row in rows:
        account = row["account"]
        text = render(
            "customer",
            account=row["name"],
            ta_name=ta_name,
            cover=row["cover"],
            cover_name=row["cover_name"],
            **days,
        )
        key = f"ooo:{absence_id}:{row['id']}:customer-notice:{dates}:{row['cover']}"
        ahead = policy.coverage.customer_notice_days_before
        why = f"{row['name']} told of {ta_name}'s absence {ahead} days ahead"
        if account.get("champions"):
            add(
                "email.send",
                key,
                list(account["champions"]),
                why,
                account_id=row["id"],
                not_before=notice_at,
                to=list(account["champions"]),
                cc=[ta_email],
                subject=f"{ta_name} out of office",
                body=text,
            )
        elif account.get("slack_channel"):
            add(
                "slack.message",
                key,
                [],
                why,
                account_id=row["id"],
                not_before=notice_at,
                channel=account["slack_channel"],
                text=text,
            )

    # Covers and team members who were told and are no longer in the plan hear so.
    now_in = {r for a in out.actions for r in a.recipients}
    for _, told in outbox:
        key = str(told.get("idempotency_key", ""))
        if told.get("status") in TOLD and (":cover:" in key or ":team:" in key):
            for person in told.get("recipients") or []:
                if person not in now_in:
                    dm(
                        person,
                        f"ooo:{absence_id}:{person}:removed:{dates}",
                        "the coverage plan changed",
                        render("removed", ta_name=ta_name, **days),
                        f"{ta_name}'s coverage plan changed",
                    )
    out.cancel = _superseded(out.actions, outbox)
    return out


def _superseded(actions: list[Action], outbox: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Pending actions of this absence that the new plan no longer derives."""
    keep = {a.id for a in actions}
    return [i for i, doc in outbox if doc.get("status") == "pending" and i not in keep]


def window_for(absence: Mapping[str, Any]) -> Window:
    """The window of a stored absence (its instants in UTC, its days as the TA counts them)."""
    start = datetime.fromisoformat(str(absence["starts_at"]))
    end = datetime.fromisoformat(str(absence["ends_at"]))
    return Window(
        start.astimezone(UTC),
        end.astimezone(UTC),
        date.fromisoformat(str(absence["start_date"])),
        date.fromisoformat(str(absence["end_date"])),
    )
