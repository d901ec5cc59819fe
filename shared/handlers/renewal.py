"""Renewals from Salesforce: the account's renewal kept current, and the 120-day renewal
process started on its day (a timer) or at once when the date moves inside the window."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.book import ACCOUNTS
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.handlers.common import ViewDirectory, account_by
from shared.handlers.coverage import replan_for_account
from shared.policy import Policy
from shared.processing import Decision, Handler, Put, ReadView
from shared.rules import seats
from shared.rules.renewal import (
    apply_opportunity,
    process_due,
    process_timer,
    process_timer_id,
    start_process,
)
from shared.store import Document


def renewal_changed(policy: Policy) -> Handler:
    """A Salesforce opportunity change → the account's renewal date, stage, amount, expansion."""

    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        opp = event.payload
        account = account_by(view, "salesforce_id", opp.get("account_salesforce_id")) or account_by(
            view, "renewal_opportunity_id", opp["opportunity_id"]
        )
        if account is None:
            raise PermanentError(
                f"opportunity {opp['opportunity_id']}: no account with salesforce_id "
                f"{opp.get('account_salesforce_id')!r} or this renewal opportunity"
            )
        updated, notes = apply_opportunity(account, opp, policy.renewal)
        decision = Decision(notes=notes or [f"{account['name']}: renewal unchanged"])
        if updated.get("renewal_date") != account.get("renewal_date"):
            updated = renewal_moved(view, account, updated, policy, now, decision)
            # The renewal bounds the contract term seat alerts count in: look again.
            updated = seats.watched(updated, policy, now)
        if updated != account:
            decision.changes.insert(0, Put(ACCOUNTS, account["id"], updated))
        if updated.get("renewal_date") != account.get("renewal_date"):
            moved = (
                f"{account['name']}'s renewal moved from {account.get('renewal_date') or 'unset'} "
                f"to {updated.get('renewal_date')}"
            )
            dates = [str(d) for d in (account.get("renewal_date"), updated.get("renewal_date")) if d]
            decision = replan_for_account(view, decision, updated, policy, now, moved, renewal_dates=dates)
        return decision

    return handle


def renewal_moved(
    view: ReadView,
    before: dict[str, Any],
    account: dict[str, Any],
    policy: Policy,
    now: datetime,
    decision: Decision,
) -> dict[str, Any]:
    """A new renewal date restarts the process: the old date's timer goes; inside the
    window the process starts now, else a timer waits for its first day."""
    if before.get("renewal_date"):
        decision.cancel_timers.append(process_timer_id(str(account["id"]), str(before["renewal_date"])))
    if process_due(account, policy.renewal, now.date()):
        account, actions, notes = start_process(account, _directory(view, account, now), policy, now)
        decision.actions.extend(actions)
        decision.notes.extend(notes)
    else:
        timer = process_timer(account, policy.renewal)
        if timer is not None and timer.due_at > now:
            decision.timers.append(timer)
    return account


def _directory(view: ReadView, account: dict[str, Any], now: datetime) -> ViewDirectory:
    """The directory the renewal process routes through, with the absences of the two
    people it tells (the TA and the AE) read in one query."""
    return ViewDirectory(view, now).expect([account.get("ta"), account.get("ae")])


def renewal_timer(view: ReadView, timer: Document, now: datetime, policy: Policy) -> Decision:
    """The first day of an account's renewal process: started if that date still holds."""
    account_id = str(timer["subject"]).partition("/")[2]
    account = view.get(ACCOUNTS, account_id)
    if account is None:
        return Decision(notes=[f"timer {timer['key']}: account {account_id} is no longer in the book"])
    renewal = (timer.get("data") or {}).get("renewal_date")
    if account.get("renewal_date") != renewal:
        moved = f"renewal moved from {renewal} to {account.get('renewal_date')}"
        return Decision(notes=[f"{account['name']}: {moved}, nothing to start"])
    if not process_due(account, policy.renewal, now.date()):
        return Decision(notes=[f"{account['name']}: renewal process for {renewal} already started or over"])
    updated, actions, notes = start_process(account, _directory(view, account, now), policy, now)
    return Decision(changes=[Put(ACCOUNTS, account_id, updated)], actions=actions, notes=notes)
