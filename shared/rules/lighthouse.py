"""The Lighthouse program (the handbook's corrective action on accounts), driven by health.

Called once a new health category has held ``health.debounce_hours``
(``shared.rules.health``). What taops does then:

- **red** (``health.lighthouse_categories``): the account enters Lighthouse. It gets
  ``lighthouse_active`` and a ``save_plan``; the TA gets a Vitally task to write the save
  plan (due ``save_plan_due_working_days`` later); the TA, the AE and the TA manager are
  told, with the score history that led there.
- **yellow** (``health.save_plan_categories``), outside Lighthouse: the TA is asked for a
  save plan (a Vitally task).
- **green after Lighthouse**: the TA and their manager are told the account may exit.
  Exit stays a human decision (``taops lighthouse exit ACCOUNT``).

Each message is routed (a TA who is away: their cover) and held for working hours, and
each happens once: keys are ``lighthouse:{account}:{entered_at}:…`` (the moment the
category that caused it began, whichever event confirmed it) and carry
``cadence: "lighthouse"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.models import Action, utc_text
from shared.policy import Policy
from shared.rules.notify import names, task_for, tell, working_days_after
from shared.rules.routing import Directory

CADENCE = "lighthouse"


@dataclass
class LighthouseOutcome:
    account: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _when(text: str | None) -> str:
    return f"{datetime.fromisoformat(text):%Y-%m-%d %H:%M} UTC" if text else "before taops kept track"


def history_lines(account: dict[str, Any]) -> list[str]:
    """The scores that led here, oldest first: ``2026-12-01 10:00 UTC  6.2 yellow``."""
    return [
        f"  {_when(h.get('at'))}  {float(h['score']):>4.1f}  {h.get('category')}"
        for h in account.get("health_history") or []
    ]


def react(account: dict[str, Any], directory: Directory, policy: Policy, now: datetime) -> LighthouseOutcome:
    """What the team does about the account's category, which has held. The account comes
    back with ``health_reacted`` set to it, so the same category never reacts twice."""
    category = str(account.get("health_category"))
    since = account.get("health_since")
    updated = {**account, "health_reacted": {"category": category, "since": since}}
    out = LighthouseOutcome(updated)
    name = account.get("name") or account["id"]
    held = f"{name} has been {category} since {_when(since)}"
    if category in policy.health.lighthouse_categories:
        if account.get("lighthouse_active"):
            out.notes.append(f"{held}: already in Lighthouse, nothing new to ask")
        else:
            _enter(out, directory, policy, now, held)
    elif category in policy.health.save_plan_categories:
        if account.get("lighthouse_active"):
            out.notes.append(f"{held}: in Lighthouse, its save plan stands")
        else:
            _ask_for_save_plan(out, directory, policy, now, held)
    elif account.get("lighthouse_active"):
        _suggest_exit(out, directory, policy, now, held)
    else:
        out.notes.append(f"{held}: nothing to do")
    return out


def _people(account: dict[str, Any], directory: Directory) -> tuple[str | None, str | None, str | None]:
    ta = account.get("ta")
    manager = (directory.person(ta) or {}).get("manager") if ta else None
    return ta, account.get("ae"), manager


def _common(account: dict[str, Any], period: str) -> dict[str, Any]:
    return {"cadence": CADENCE, "period": period, "health_score": account.get("health_score")}


def _enter(out: LighthouseOutcome, directory: Directory, policy: Policy, now: datetime, held: str) -> None:
    account = out.account
    entered = str(account.get("health_since") or utc_text(now))
    base = f"lighthouse:{account['id']}:{entered}"
    period = entered[:10]
    ta, ae, manager = _people(account, directory)
    due = working_days_after(now.date(), policy.health.save_plan_due_working_days, policy.calendar)
    reason = f"{held}: it enters the Lighthouse program"
    if ta:
        task = task_for(
            ta,
            key=f"{base}:save-plan",
            reason=f"{reason}; write its save plan by {due.isoformat()}",
            name=f"Lighthouse save plan: {account.get('name')}",
            due=due,
            account=account,
            directory=directory,
            now=now,
            **_common(account, period),
        )
        out.actions.append(task)
    history = "\n".join(["Scores that led here:", *history_lines(account)])
    text = (
        f"{account.get('name')} enters the Lighthouse program: its health has been "
        f"{account.get('health_category')} since {_when(account.get('health_since'))} "
        f"(score {account.get('health_score')}).\n{history}\n"
        + (
            f"The TA writes the save plan by {due.isoformat()} (a Vitally task)."
            if ta
            else "It has no TA to write its save plan: assign one in the book."
        )
    )
    told = []
    for role, person in (("TA", ta), ("AE", ae), ("TA manager", manager)):
        if not person or person in told:
            continue
        told.append(person)
        out.actions.append(
            tell(
                person,
                key=f"{base}:told:{person}",
                reason=f"{reason}; you are its {role}",
                subject=f"Lighthouse: {account.get('name')} is {account.get('health_category')}",
                text=text,
                account_id=str(account["id"]),
                directory=directory,
                calendar=policy.calendar,
                now=now,
                default_timezone=policy.group_mail.time_zone,
                **_common(account, period),
            ).action
        )
    account.update(
        lighthouse_active=True,
        lighthouse_entered_at=entered,
        save_plan={
            "opened_at": now.date().isoformat(),
            "owner": out.actions[0].recipients[0] if ta else None,
            "due_date": due.isoformat(),
            "requested_for": account.get("health_category"),
        },
    )
    asked = f"save plan task due {due.isoformat()}" if ta else "no TA, so no save plan task"
    heard = f"told {names(directory, told)}" if told else "nobody to tell (no TA, AE or TA manager)"
    out.notes.append(f"{reason}: {asked}; {heard}")


def _ask_for_save_plan(
    out: LighthouseOutcome, directory: Directory, policy: Policy, now: datetime, held: str
) -> None:
    account = out.account
    ta = account.get("ta")
    if not ta:
        out.notes.append(f"{held}: a save plan is needed, but the account has no TA")
        return
    since = str(account.get("health_since") or utc_text(now))
    due = working_days_after(now.date(), policy.health.save_plan_due_working_days, policy.calendar)
    task = task_for(
        ta,
        key=f"lighthouse:{account['id']}:{since}:yellow-save-plan",
        reason=f"{held}: a save plan is needed by {due.isoformat()}",
        name=f"Save plan: {account.get('name')} is {account.get('health_category')}",
        due=due,
        account=account,
        directory=directory,
        now=now,
        **_common(account, since[:10]),
    )
    out.actions.append(task)
    account["save_plan"] = {
        **(account.get("save_plan") or {}),
        "opened_at": now.date().isoformat(),
        "owner": task.recipients[0],
        "due_date": due.isoformat(),
        "requested_for": account.get("health_category"),
    }
    out.notes.append(f"{held}: save plan asked of {names(directory, task.recipients)} by {due.isoformat()}")


def _suggest_exit(
    out: LighthouseOutcome, directory: Directory, policy: Policy, now: datetime, held: str
) -> None:
    account = out.account
    # An account the book put in Lighthouse has no entry time: its save plan's opening day.
    entered = str(
        account.get("lighthouse_entered_at") or (account.get("save_plan") or {}).get("opened_at") or "book"
    )
    since = str(account.get("health_since") or utc_text(now))
    ta, _ae, manager = _people(account, directory)
    reason = f"{held}, in Lighthouse since {entered[:10]}: it may exit"
    text = (
        f"{account.get('name')} has been {account.get('health_category')} since {_when(since)} "
        f"(score {account.get('health_score')}) and may exit the Lighthouse program.\n"
        "Exit is your decision: record it with `taops lighthouse exit "
        f"{account['id']} --by YOUR_EMAIL --note WHY` (or leave it in while the save plan runs)."
    )
    told = []
    for role, person in (("TA", ta), ("TA manager", manager)):
        if not person or person in told:
            continue
        told.append(person)
        out.actions.append(
            tell(
                person,
                key=f"lighthouse:{account['id']}:{entered}:may-exit:{since}:{person}",
                reason=f"{reason}; you are its {role}",
                subject=f"Lighthouse: {account.get('name')} may exit",
                text=text,
                account_id=str(account["id"]),
                directory=directory,
                calendar=policy.calendar,
                now=now,
                default_timezone=policy.group_mail.time_zone,
                **_common(account, since[:10]),
            ).action
        )
    out.notes.append(f"{reason}: told {names(directory, told)}" if told else f"{reason}: nobody to tell")


def exit_lighthouse(account: dict[str, Any], by: str, note: str | None, now: datetime) -> dict[str, Any]:
    """The account after a person decided it leaves Lighthouse (recorded, never automatic)."""
    plan = dict(account.get("save_plan") or {})
    plan["summary"] = note or plan.get("summary")
    return {
        **account,
        "lighthouse_active": False,
        "lighthouse_exited_at": utc_text(now),
        "lighthouse_exited_by": by,
        "save_plan": plan or None,
    }
