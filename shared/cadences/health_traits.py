"""Health traits (the handbook's "Bi-Monthly Health Score Updates"): every month, for every
managed account, a Vitally task to its TA (routed) to update the Pulse, Access to Buyer
and Active Champion traits, due at the end of that week. Once per account and month:
``health-traits:{account}:{YYYY-MM}``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from shared.book import ACCOUNTS
from shared.cadences import Due, register
from shared.handlers.common import ViewDirectory
from shared.policy import CalendarPolicy, Policy
from shared.processing import Decision, ReadView
from shared.rules.business_hours import is_business_day
from shared.rules.notify import task_for
from shared.store import Store, Where

JOB = "health-traits"
TRAITS = ("Pulse", "Access to Buyer", "Active Champion")


def end_of_week(day: date, calendar: CalendarPolicy) -> date:
    """The last working day of ``day``'s week (Monday to Sunday); from a weekend or a
    week with no working day left, the next week's."""
    monday = day - timedelta(days=day.weekday())
    for week in (monday, monday + timedelta(weeks=1)):
        last = [d for d in (week + timedelta(days=n) for n in range(7)) if is_business_day(d, calendar)]
        if last and last[-1] >= day:
            return last[-1]
    return day + timedelta(days=7)


class HealthTraits:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        period = f"{now:%Y-%m}"
        return [
            Due(JOB, account_id, period, f"{JOB}:{account_id}:{period}")
            for account_id, doc in sorted(store.query(ACCOUNTS, Where("managed", "==", True)))
            if doc.get("ta")
        ]

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        account = view.get(ACCOUNTS, due.subject)
        if account is None or not account.get("managed") or not account.get("ta"):
            return Decision(notes=[f"{due.subject}: no longer a managed account with a TA, no task"])
        by = end_of_week(now.date(), policy.calendar)
        task = task_for(
            str(account["ta"]),
            key=due.key,
            reason=(
                f"the monthly health-trait update of {account['name']} for {due.period}: "
                f"{', '.join(TRAITS)}; by {by.isoformat()}"
            ),
            name=f"Update {', '.join(TRAITS)} for {account['name']} ({due.period})",
            due=by,
            account=account,
            directory=ViewDirectory(view, now),
            now=now,
            cadence=JOB,
            period=due.period,
            traits=list(TRAITS),
        )
        return Decision(
            actions=[task], notes=[f"{account['name']}: trait update task to {task.recipients[0]} by {by}"]
        )


register(HealthTraits())
