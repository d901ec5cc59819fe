"""Keeping an account's renewal current from Salesforce opportunity changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shared.messages import in_days
from shared.models import Action, Timer, timer_id, utc_text
from shared.policy import Policy, Renewal
from shared.rules.notify import names, task_for, tell
from shared.rules.routing import Directory, name_of


def is_renewal(opportunity: dict[str, Any], account: dict[str, Any], policy: Renewal) -> bool:
    """The opportunity is the account's renewal: its Type says so, or (CDC updates often
    leave Type out) it is the opportunity already recorded as the renewal."""
    if opportunity.get("type"):
        return opportunity["type"] in policy.opportunity_types
    return opportunity["opportunity_id"] == account.get("renewal_opportunity_id")


def is_expansion(opportunity: dict[str, Any], policy: Renewal) -> bool:
    return bool(opportunity.get("type")) and opportunity["type"] in policy.expansion_types


def apply_opportunity(
    account: dict[str, Any], opportunity: dict[str, Any], policy: Renewal
) -> tuple[dict[str, Any], list[str]]:
    """The account updated from one opportunity, and what changed, one sentence each.

    Only fields the opportunity carries are applied: a CDC update names just what changed.
    """
    updated = dict(account)
    notes: list[str] = []
    name = account.get("name", account.get("id"))
    opp = opportunity["opportunity_id"]
    if is_renewal(opportunity, account, policy):
        closed = bool(opportunity.get("is_closed"))
        if closed and account.get("renewal_opportunity_id") not in (None, opp):
            # An older renewal closing late must not take over from the current one.
            return account, [f"{name}: renewal opportunity {opp} closed; the current one is kept"]
        updated["renewal_opportunity_id"] = opp
        if closed and opportunity.get("close_date") is not None:
            # Salesforce sets CloseDate to the day it closed: that is not the next renewal.
            notes.append(
                f"{name}: renewal opportunity {opp} closed ({opportunity.get('stage') or 'closed'}); "
                f"the renewal date stays {account.get('renewal_date') or 'unset'} until the next renewal"
            )
            opportunity = {k: v for k, v in opportunity.items() if k != "close_date"}
        for source, target, label in (
            ("close_date", "renewal_date", "renewal date"),
            ("stage", "renewal_stage", "renewal stage"),
            ("amount", "renewal_amount", "renewal amount"),
        ):
            value = opportunity.get(source)
            if value is not None and value != account.get(target):
                updated[target] = value
                notes.append(
                    f"{name}: {label} {account.get(target) or 'unset'} → {value} (opportunity {opp})"
                )
    elif is_expansion(opportunity, policy):
        open_now = not opportunity.get("is_closed")
        if open_now != bool(account.get("expansion_opportunity")):
            updated["expansion_opportunity"] = open_now
            state = "open" if open_now else "closed"
            notes.append(f"{name}: expansion opportunity {opp} is {state}")
    else:
        notes.append(
            f"{name}: opportunity {opp} of type {opportunity.get('type')!r} is neither renewal nor expansion"
        )
    return updated, notes


# The renewal process (the handbook's "starts 120 days before the renewal date with a
# health assessment"): one durable timer per renewal date, fired by the daily
# ``renewal-process`` tick; a date that moves inside the window starts it at once.

RENEWAL_TIMER = "renewal"
RENEWAL_JOB = "renewal-process"
CADENCE = "renewal"


def start_key(account_id: str, renewal_date: str) -> str:
    return f"renewal-start:{account_id}:{renewal_date}"


def process_starts_on(renewal_date: date, policy: Renewal) -> date:
    return renewal_date - timedelta(days=policy.process_starts_days_before)


def _renewal_date(account: dict[str, Any]) -> date | None:
    value = account.get("renewal_date")
    return date.fromisoformat(str(value)[:10]) if value else None


def already_started(account: dict[str, Any]) -> bool:
    """The process has started for the account's current renewal date."""
    started = (account.get("renewal_process") or {}).get("renewal_date")
    return bool(started) and started == account.get("renewal_date")


def process_due(account: dict[str, Any], policy: Renewal, today: date) -> bool:
    """Inside the window (from 120 days before the renewal date up to the date itself) and
    not started for this date: a process whose renewal is already past is not caught up."""
    renewal = _renewal_date(account)
    if renewal is None or already_started(account):
        return False
    return process_starts_on(renewal, policy) <= today <= renewal


def process_timer(account: dict[str, Any], policy: Renewal) -> Timer | None:
    """The timer that starts the process on its first day (None: no date, or started)."""
    renewal = _renewal_date(account)
    if renewal is None or already_started(account):
        return None
    starts = process_starts_on(renewal, policy)
    return Timer(
        key=start_key(str(account["id"]), renewal.isoformat()),
        kind=RENEWAL_TIMER,
        job=RENEWAL_JOB,
        due_at=datetime.combine(starts, time(0), tzinfo=UTC),
        subject=f"accounts/{account['id']}",
        data={"renewal_date": renewal.isoformat()},
    )


def process_timer_id(account_id: str, renewal_date: str) -> str:
    return timer_id(start_key(account_id, renewal_date))


def start_process(
    account: dict[str, Any], directory: Directory, policy: Policy, now: datetime
) -> tuple[dict[str, Any], list[Action], list[str]]:
    """The renewal process begins: the TA (routed) gets the health-assessment task, the AE
    a note; the account records which renewal date it started for."""
    renewal = str(account["renewal_date"])[:10]
    name = account.get("name") or account["id"]
    key = start_key(str(account["id"]), renewal)
    days = (date.fromisoformat(renewal) - now.date()).days
    due = min(now.date() + timedelta(days=policy.renewal.assessment_due_days), date.fromisoformat(renewal))
    reason = f"{name} renews on {renewal}, {in_days(days)}: its renewal process starts"
    fields = {"cadence": CADENCE, "period": renewal, "renewal_date": renewal}
    actions: list[Action] = []
    told: list[str] = []
    ta, ae = account.get("ta"), account.get("ae")
    if ta:
        task = task_for(
            ta,
            key=key,
            reason=f"{reason}; assess its health by {due.isoformat()}",
            name=f"Renewal health assessment: {name} (renews {renewal})",
            due=due,
            account=account,
            directory=directory,
            now=now,
            health_category=account.get("health_category"),
            description=ASSESSMENT,
            **fields,
        )
        actions.append(task)
        told.extend(task.recipients)
    if ae:
        assessing = name_of(directory, actions[0].recipients[0]) if actions else "nobody (no TA)"
        note = tell(
            ae,
            key=f"{key}:ae",
            reason=f"{reason}; you are its AE",
            subject=f"Renewal process started: {name} renews {renewal}",
            text=(
                f"The renewal process for {name} starts today: it renews on {renewal}, {in_days(days)}.\n"
                f"Health assessment (green / yellow / red) by {assessing}, due {due.isoformat()}. "
                f"Current health: {account.get('health_category') or 'unknown'}."
            ),
            account_id=str(account["id"]),
            directory=directory,
            calendar=policy.calendar,
            now=now,
            default_timezone=policy.group_mail.time_zone,
            **fields,
        ).action
        actions.append(note)
        told.extend(note.recipients)
    updated = {**account, "renewal_process": {"renewal_date": renewal, "started_at": utc_text(now)}}
    who = names(directory, told) if told else "nobody (no TA or AE)"
    return updated, actions, [f"{reason}: assessment due {due.isoformat()}; told {who}"]


ASSESSMENT = (
    "Assess the account's health for its renewal: green (on track), yellow (a save plan is "
    "needed) or red (enters the Lighthouse program). Record it in Vitally."
)
