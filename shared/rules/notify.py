"""Telling one person something, the way design §5 says every reaction does: routed around
absences (``shared.rules.routing.reach``), inside the recipient's working hours, as a Slack
direct message when they have a Slack id and an email otherwise, with a reason that names
who it was meant for when someone else hears it.

Reactions (Lighthouse, the renewal process, the cadences) build their messages here, so
every one of them routes and holds the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.models import Action
from shared.policy import CalendarPolicy
from shared.rules.business_hours import is_business_day
from shared.rules.routing import Directory, Reach, name_of, reach, route


@dataclass(frozen=True)
class Told:
    action: Action
    reached: Reach

    @property
    def note(self) -> str:
        held = self.action.not_before
        when = f", held for their working hours until {held:%Y-%m-%d %H:%M} UTC" if held else ""
        return f"{self.action.recipients[0]}{when}"


def tell(
    person: str,
    *,
    key: str,
    reason: str,
    subject: str,
    text: str,
    account_id: str | None,
    directory: Directory,
    calendar: CalendarPolicy,
    now: datetime,
    default_timezone: str = "UTC",
    **fields: Any,
) -> Told:
    """One message meant for ``person``: to them, or whoever stands in for them then."""
    reached = reach(person, now, account_id, directory, calendar, default_timezone)
    why = f"{reason}; {reached.route.reason}" if reached.route.reason else reason
    body = f"{text}\n\nWhy you: {why}."
    common: dict[str, Any] = {
        "at": now,
        "not_before": reached.not_before,
        "recipients": [reached.to],
        "account_id": account_id,
        "reason": why,
        "idempotency_key": key,
        "meant_for": [person],
        **fields,
    }
    slack_id = (directory.person(reached.to) or {}).get("slack_id")
    if slack_id:
        action = Action(kind="slack.message", channel=slack_id, text=f"*{subject}*\n{body}", **common)
    else:
        action = Action(kind="email.send", to=[reached.to], subject=subject, body=body, **common)
    return Told(action, reached)


def task_for(
    person: str,
    *,
    key: str,
    reason: str,
    name: str,
    due: date,
    account: Mapping[str, Any],
    directory: Directory,
    now: datetime,
    **fields: Any,
) -> Action:
    """A Vitally task on the account for ``person`` (or whoever stands in for them now). A
    task waits in Vitally for its owner, so it is not held for working hours."""
    routed = route(person, now, str(account["id"]), directory)
    why = f"{reason}; {routed.reason}" if routed.reason else reason
    return Action(
        kind="vitally.task",
        at=now,
        recipients=[routed.to],
        account_id=str(account["id"]),
        reason=why,
        idempotency_key=key,
        vitally_account_id=account.get("vitally_id"),
        name=name,
        due_date=due.isoformat(),
        assignee=routed.to,
        meant_for=[person],
        **fields,
    )


def working_days_after(start: date, days: int, calendar: CalendarPolicy) -> date:
    """The ``days``-th working day after ``start`` (weekends and the policy's holidays skipped)."""
    day = start
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_business_day(day, calendar):
            left -= 1
    return day


def names(directory: Directory, people: list[str]) -> str:
    return ", ".join(name_of(directory, p) for p in people)
