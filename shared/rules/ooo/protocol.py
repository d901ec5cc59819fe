"""The OOO protocol, step by step: a requested or approved absence gets its coverage plan
and every notice the plan calls for; a cancelled or denied one is withdrawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.models import Action, CoveragePlan
from shared.policy import Policy
from shared.rules.coverage import Window
from shared.rules.ooo.audiences import (
    Outbox,
    account_teams,
    by_cover,
    reviewers,
    told_covers_and_teams,
    told_so_far,
)
from shared.rules.ooo.notices import Notices
from shared.rules.ooo.plan import draw_plan


@dataclass
class OooOutcome:
    plan: CoveragePlan | None
    actions: list[Action] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)  # outbox ids of pending actions to cancel
    notes: list[str] = field(default_factory=list)


def plan_absence(
    absence_id: str,
    status: str,
    ta: Mapping[str, Any],
    window: Window,
    people: Mapping[str, Mapping[str, Any]],
    accounts: Sequence[Mapping[str, Any]],
    absences: Sequence[Mapping[str, Any]],
    outbox: Outbox,
    policy: Policy,
    now: datetime,
) -> OooOutcome:
    """The coverage plan for a requested or approved absence, and every action it calls for."""
    drawn = draw_plan(absence_id, status, ta, window, people, accounts, absences, policy)
    plan = drawn.plan
    notices = Notices(absence_id, ta, window, people, policy, now)
    out = OooOutcome(
        plan,
        notes=[
            *drawn.notes,
            f"{len(plan.items)} account(s) need cover, {plan.accounts_without_cover_needs} do not",
        ],
    )
    # 1. The plan to the TA and their manager: for review while draft, final once shared.
    out.actions += notices.plan(drawn, status, reviewers(ta))
    if not drawn.share:
        out.cancel = _superseded(out.actions, outbox)
        return out
    # 2. Each account team member (AE, CE, IE): one message listing their accounts.
    out.actions += [notices.team(member, rows) for member, rows in account_teams(drawn.rows).items()]
    # 3. Each cover: their assignments.
    covers = by_cover(drawn.rows)
    out.actions += [notices.cover(cover, rows) for cover, rows in covers.items()]
    # 4. Renewing accounts: resolve pending action items before leaving (a Vitally task).
    out.actions += [notices.renewal_task(row) for row in drawn.rows if "renewing" in row["codes"]]
    # 5. Customer syncs in the window: found in the TA's calendar at delivery, AEs kept informed.
    out.actions.append(notices.calendar_review(accounts))
    # 6. The Gmail autoresponder for the window, naming the covers.
    out.actions.append(notices.vacation(covers))
    # 7. The Slack status, set when the absence starts, expiring at its end.
    out.actions.append(notices.slack_status())
    # 8. Customers told ahead of time through their channel.
    notice_at = notices.customer_notice_at()
    for row in drawn.rows:
        notice = notices.customer(row, notice_at)
        if notice is not None:
            out.actions.append(notice)
    # Covers and team members who were told and are no longer in the plan hear so.
    now_in = {r for a in out.actions for r in a.recipients}
    gone = [p for p in dict.fromkeys(told_covers_and_teams(outbox)) if p not in now_in]
    out.actions += [notices.removed(person) for person in gone]
    out.cancel = _superseded(out.actions, outbox)
    return out


def withdraw(
    absence_id: str,
    ta: Mapping[str, Any],
    window: Window,
    outcome: str,
    plan: Mapping[str, Any] | None,
    outbox: Outbox,
    people: Mapping[str, Mapping[str, Any]],
    policy: Policy,
    now: datetime,
) -> OooOutcome:
    """Cancel what is not yet done and tell those who were told that it is off."""
    result = OooOutcome(None)
    if plan is not None:
        result.plan = CoveragePlan.model_validate({**plan, "status": "withdrawn"})
    told = told_so_far(outbox)
    result.cancel = told.pending
    notices = Notices(absence_id, ta, window, people, policy, now)
    result.actions = [notices.withdrawn(person, outcome) for person in sorted(told.people)]
    if told.vacation_set:
        result.actions.append(notices.vacation_off(outcome))
    result.notes.append(
        f"plan withdrawn ({outcome}): {len(result.cancel)} pending action(s) cancelled, "
        f"{len(told.people)} person(s) told"
    )
    return result


def _superseded(actions: list[Action], outbox: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Pending actions of this absence that the new plan no longer derives."""
    keep = {a.id for a in actions}
    return [i for i, doc in outbox if doc.get("status") == "pending" and i not in keep]
