"""Who hears about a coverage plan, and what each of them is told.

- the TA and their manager review the plan (a draft until it is shared);
- each member of an account team (AE, CE, IE) hears about their accounts;
- each cover hears about the accounts they cover;
- each account's customers are told through their channel: the champions by email, else
  the shared Slack channel;
- when the plan changes or is withdrawn, whoever was told before hears so (read from the
  outbox: an action ``published`` or ``delivered`` was told).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.rules.ooo.plan import Row

TOLD = frozenset({"published", "delivered"})
TEAM_ROLES = ("ae", "ce", "ie")

Outbox = Sequence[tuple[str, Mapping[str, Any]]]


def reviewers(ta: Mapping[str, Any]) -> list[str]:
    """The TA, then their manager when they have one."""
    manager = ta.get("manager")
    return [str(ta["email"]), *([str(manager)] if manager else [])]


def account_teams(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Each account team member (AE, CE, IE), by email in order, with their accounts."""
    team: dict[str, list[Row]] = {}
    for row in rows:
        for role in TEAM_ROLES:
            member = row["account"].get(role)
            if member:
                team.setdefault(member, []).append(row)
    return dict(sorted(team.items()))


def by_cover(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Each cover, by email in order, with the accounts they cover."""
    covers: dict[str, list[Row]] = {}
    for row in rows:
        covers.setdefault(row["cover"], []).append(row)
    return dict(sorted(covers.items()))


def is_told(action: Mapping[str, Any]) -> bool:
    return action.get("status") in TOLD


def is_customer_notice(action: Mapping[str, Any]) -> bool:
    return ":customer-notice:" in str(action.get("idempotency_key", ""))


@dataclass
class Told:
    """What the outbox says about an absence's actions so far."""

    pending: list[str] = field(default_factory=list)  # outbox ids not yet carried out
    people: set[str] = field(default_factory=set)  # everyone in the team told something
    customers: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # account id → its notice
    vacation_set: bool = False  # the autoresponder is on


def told_so_far(outbox: Outbox) -> Told:
    """Who was told what about an absence, and what is still pending. Customers are kept
    apart: they were told through their own channel and hear back through it."""
    told = Told()
    for action_id, action in outbox:
        if action.get("status") == "pending":
            told.pending.append(action_id)
        elif is_told(action) and action.get("kind") != "slack.status" and not is_customer_notice(action):
            told.people.update(action.get("recipients") or [])
            told.vacation_set = told.vacation_set or action.get("kind") == "gmail.vacation"
    told.customers = latest_customer_notices(outbox)
    return told


def latest_customer_notices(outbox: Outbox) -> dict[str, Mapping[str, Any]]:
    """The customer notice each account was last told (by the time it was decided)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for _, action in outbox:
        if is_told(action) and is_customer_notice(action) and action.get("account_id"):
            account_id = str(action["account_id"])
            if account_id not in latest or str(action.get("at")) >= str(latest[account_id].get("at")):
                latest[account_id] = action
    return latest


def tasks_told(outbox: Outbox) -> dict[str, list[str]]:
    """The due dates of the Vitally tasks each account's TA was given for this absence."""
    due: dict[str, list[str]] = {}
    for _, action in outbox:
        if is_told(action) and action.get("kind") == "vitally.task" and action.get("account_id"):
            due.setdefault(str(action["account_id"]), []).append(str(action.get("due_date")))
    return {account_id: sorted(dates) for account_id, dates in due.items()}


def told_covers_and_teams(outbox: Outbox) -> dict[str, str]:
    """Everyone who was told they cover an account or that their account is covered, with
    the key of the last such message they were told (by the time it was decided)."""
    last: dict[str, Mapping[str, Any]] = {}
    for _, action in outbox:
        key = str(action.get("idempotency_key", ""))
        if is_told(action) and (":cover:" in key or ":team:" in key):
            for person in action.get("recipients") or []:
                if person not in last or str(action.get("at")) >= str(last[person].get("at")):
                    last[person] = action
    return {person: str(action["idempotency_key"]) for person, action in sorted(last.items())}
