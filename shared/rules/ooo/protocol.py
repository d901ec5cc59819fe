"""The OOO protocol, step by step: a requested or approved absence gets its coverage plan
and every notice the plan calls for; a cancelled or denied one is withdrawn."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.messages import plural
from shared.models import Action, CoveragePlan
from shared.policy import Policy
from shared.rules.coverage import Window
from shared.rules.customer_email import Composed, History
from shared.rules.ooo.audiences import (
    Outbox,
    account_teams,
    by_cover,
    latest_customer_notices,
    reviewers,
    tasks_told,
    told_covers_and_teams,
    told_so_far,
)
from shared.rules.ooo.notices import Notices
from shared.rules.ooo.plan import draw_plan
from shared.rules.routing import Directory


@dataclass
class OooOutcome:
    plan: CoveragePlan | None
    actions: list[Action] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)  # outbox ids of pending actions to cancel
    notes: list[str] = field(default_factory=list)
    # Customer notices not sent (the account is do_not_contact): (outbox id, record) to keep.
    skipped: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


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
    *,
    before: Mapping[str, Any] | None = None,
    because: str | None = None,
    directory: Directory | None = None,
    history: History | None = None,
) -> OooOutcome:
    """The coverage plan for a requested or approved absence, and every action it calls for.

    ``before`` is the plan as stored (its covers stay while they are free, and what
    changed since is told); ``because`` says what changed in the world; ``directory``
    routes the messages of a plan that changes after it was shared; ``history`` gives an
    account's customer emails (``shared.rules.customer_email.history``).
    """
    stored = CoveragePlan.model_validate(before) if before and before.get("status") != "withdrawn" else None
    drawn = draw_plan(absence_id, status, ta, window, people, accounts, absences, policy, stored)
    if because and stored is not None:
        drawn.revision.changes.insert(0, because.rstrip(".") + ".")
    plan = drawn.plan
    notices = Notices(
        absence_id, ta, window, people, policy, now, drawn.revision, directory, history, decided=dict(outbox)
    )
    quiet = plan.accounts_without_cover_needs
    out = OooOutcome(
        plan,
        notes=[
            *drawn.notes,
            f"{plural(len(plan.items), 'account')} need{'s' if len(plan.items) == 1 else ''} cover, "
            f"{quiet} do{'es' if quiet == 1 else ''} not",
        ],
    )
    if drawn.revision.changes:
        out.notes.insert(0, "re-planned: " + " ".join(drawn.revision.changes))
    # 1. The plan to the TA and their manager: for review while draft, final once shared.
    out.actions += notices.plan(drawn, status, reviewers(ta))
    if not drawn.share:
        out.cancel = _superseded(out.actions, outbox)
        return out
    # 2. Each account team member (AE, CE, IE): one message listing their accounts.
    out.actions += [notices.team(member, rows) for member, rows in account_teams(drawn.rows).items()]
    # 3. Each cover: their assignments.
    covers = by_cover([row for row in drawn.rows if row["cover"] != "-"])
    out.actions += [notices.cover(cover, rows) for cover, rows in covers.items()]
    # 4. Renewing accounts: resolve pending action items before leaving (a Vitally task).
    tasks = tasks_told(outbox)
    out.actions += [
        notices.renewal_task(row, tasks.get(row["id"], ()))
        for row in drawn.rows
        if "renewing" in row["codes"]
    ]
    # 5. Customer syncs in the window: found in the TA's calendar at delivery, AEs kept informed.
    out.actions.append(notices.calendar_review(accounts))
    # 6. The Gmail autoresponder for the window, naming the covers.
    out.actions.append(notices.vacation(covers))
    # 7. The Slack status, set when the absence starts, expiring at its end.
    out.actions.append(notices.slack_status())
    # 8. Customers told ahead of time through their channel (corrected if told otherwise).
    _customer_notices(out, notices, drawn.rows, outbox)
    # Covers and team members who were told and are no longer in the plan hear so.
    now_in = {r for a in out.actions for r in [*a.recipients, *(getattr(a, "meant_for", None) or [])]}
    gone = {p: told for p, told in told_covers_and_teams(outbox).items() if p not in now_in}
    out.actions += [notices.removed(person, told) for person, told in gone.items()]
    out.cancel = _superseded(out.actions, outbox)
    return out


def _customer_notices(
    out: OooOutcome, notices: Notices, rows: Sequence[Mapping[str, Any]], outbox: Outbox
) -> None:
    notice_at = notices.customer_notice_at()
    told = latest_customer_notices(outbox)
    for row in rows:
        _collect(out, notices.customer(dict(row), notice_at, told.get(str(row["id"]))))


def _collect(out: OooOutcome, composed: Composed) -> None:
    """A customer message into the outcome: the action, or the record of a skip and why."""
    if composed.action is not None:
        out.actions.append(composed.action)
    elif composed.note:
        out.notes.append(composed.note)
    if composed.skipped is not None:
        out.skipped.append(composed.skipped)


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
    *,
    accounts: Mapping[str, Mapping[str, Any]] | None = None,
    history: History | None = None,
) -> OooOutcome:
    """Cancel what is not yet done and tell those who were told that it is off: people in
    the team by a message of their own, customers by a note through the channel that told
    them (``accounts``, as they are now, say who asked not to be contacted since).
    Withdrawing again sends and cancels nothing more."""
    result = OooOutcome(None)
    if plan is not None:
        result.plan = CoveragePlan.model_validate({**plan, "status": "withdrawn"})
    told = told_so_far(outbox)
    notices = Notices(
        absence_id, ta, window, people, policy, now, history=history, accounts=accounts, decided=dict(outbox)
    )
    result.actions = [notices.withdrawn(person, outcome) for person in sorted(told.people)]
    skips = OooOutcome(None)
    for account_id in sorted(told.customers):
        _collect(skips, notices.customer_withdrawn(told.customers[account_id], outcome))
    result.actions += skips.actions
    result.skipped = skips.skipped
    if told.vacation_set:
        result.actions.append(notices.vacation_off(outcome))
    # The notices of an earlier withdrawal may still be pending: they stay.
    result.cancel = _superseded(result.actions, outbox)
    known = {action_id for action_id, doc in outbox if doc.get("status") != "cancelled"}
    new = [a for a in result.actions if a.id not in known]
    if not result.cancel and not new:
        result.notes.append(f"plan already withdrawn ({outcome}): nothing more to cancel or send")
        return result
    people_told = {r for a in new for r in a.recipients if r in told.people}
    customers_told = [a for a in new if a.idempotency_key.endswith(":customer-withdrawn")]
    result.notes.append(
        f"plan withdrawn ({outcome}): {plural(len(result.cancel), 'pending action')} cancelled, "
        f"{plural(len(people_told), 'person', 'people')} told"
        + (f", customers of {plural(len(customers_told), 'account')} told" if customers_told else "")
    )
    result.notes += skips.notes
    return result


def _superseded(actions: list[Action], outbox: Sequence[tuple[str, Mapping[str, Any]]]) -> list[str]:
    """Pending actions of this absence that the decision no longer derives."""
    keep = {a.id for a in actions}
    return [i for i, doc in outbox if doc.get("status") == "pending" and i not in keep]
