"""Health from Vitally: every category change recorded at once, and the Lighthouse
reactions once a category has held (``shared.rules.health``, ``shared.rules.lighthouse``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.book import ACCOUNTS, PEOPLE
from shared.decisions import LIGHTHOUSE_EXIT
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.handlers.common import HEALTH_CHANGES, ViewDirectory, account_by
from shared.handlers.coverage import replan_for_account
from shared.policy import Policy
from shared.processing import Decision, Handler, Put, ReadView
from shared.rules.health import (
    apply_score,
    awaits_reaction,
    debounce_timer,
    debounce_timer_id,
    has_held,
    reacted_category,
    settles_at,
)
from shared.rules.lighthouse import exit_lighthouse, react
from shared.store import Document

__all__ = ["LIGHTHOUSE_EXIT", "health_changed", "health_timer", "lighthouse_exit", "settle"]


def health_changed(policy: Policy) -> Handler:
    """A Vitally health score → the account's score and category; each category change
    logged; a category that has held reacted to."""

    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        seen = event.payload
        account = account_by(view, "vitally_id", seen.get("vitally_id"))
        if account is None and seen.get("external_id"):
            account = view.get(ACCOUNTS, seen["external_id"])
        if account is None:
            raise PermanentError(
                f"Vitally account {seen.get('vitally_id')} "
                f"(externalId {seen.get('external_id')}) is not in the book"
            )
        if seen.get("health_score") is None:
            return Decision(notes=[f"{account['name']}: no health score in the event"])
        updated, change, note = apply_score(
            account, float(seen["health_score"]), policy.health, event.occurred_at, event.event_id
        )
        decision = Decision(notes=[note])
        if change is not None:
            decision.changes.append(Put(HEALTH_CHANGES, event.marker_id, change.model_dump(mode="json")))
        elif not awaits_reaction(updated):
            decision.changes.append(Put(ACCOUNTS, account["id"], updated))
            return decision
        updated = settle(view, updated, policy, now, decision, flapped=change is not None)
        decision.changes.insert(0, Put(ACCOUNTS, account["id"], updated))
        return joined_plans(view, decision, account, updated, policy, now)

    return handle


def settle(
    view: ReadView, account: dict[str, Any], policy: Policy, now: datetime, decision: Decision, flapped: bool
) -> dict[str, Any]:
    """React to the account's category if it has held, else (re)schedule the debounce
    timer; a category back to the one last reacted to withdraws the pending reaction."""
    name = account.get("name") or account["id"]
    if not awaits_reaction(account):
        if flapped:
            decision.cancel_timers.append(debounce_timer_id(str(account["id"])))
            decision.notes.append(
                f"{name}: back to {reacted_category(account)} within "
                f"{policy.health.debounce_hours:g} hours: no reaction"
            )
        return account
    if has_held(account, policy.health, now):
        # Whom a reaction tells (the TA, the AE, the TA's manager): their absences in one query.
        directory = ViewDirectory(view, now)
        ta = account.get("ta")
        manager = (directory.person(str(ta)) or {}).get("manager") if ta else None
        outcome = react(account, directory.expect([ta, account.get("ae"), manager]), policy, now)
        decision.actions.extend(outcome.actions)
        decision.notes.extend(outcome.notes)
        decision.cancel_timers.append(debounce_timer_id(str(account["id"])))
        return outcome.account
    decision.timers.append(debounce_timer(account, policy.health))
    settles = settles_at(account, policy.health)
    decision.notes.append(
        f"{name}: {account.get('health_category')} must hold until {settles:%Y-%m-%d %H:%M} UTC "
        "before the team reacts"
    )
    return account


def health_timer(view: ReadView, timer: Document, now: datetime, policy: Policy) -> Decision:
    """The debounce is over: react if the category still is the one the timer waited for."""
    account_id = str(timer["subject"]).partition("/")[2]
    account = view.get(ACCOUNTS, account_id)
    if account is None:
        return Decision(notes=[f"timer {timer['key']}: account {account_id} is no longer in the book"])
    data = timer.get("data") or {}
    if account.get("health_category") != data.get("category") or account.get("health_since") != data.get(
        "since"
    ):
        return Decision(notes=[f"{account['name']}: health moved since the timer was set, nothing to do"])
    decision = Decision()
    updated = settle(view, account, policy, now, decision, flapped=False)
    if updated is not account:
        decision.changes.insert(0, Put(ACCOUNTS, account_id, updated))
    return joined_plans(view, decision, account, updated, policy, now)


def joined_plans(
    view: ReadView,
    decision: Decision,
    before: dict[str, Any],
    after: dict[str, Any],
    policy: Policy,
    now: datetime,
) -> Decision:
    """An account that entered Lighthouse joins the coverage plans of its TA's absences
    (design §5): each is re-drawn with it, and only the difference is told."""
    if after.get("lighthouse_active") and not before.get("lighthouse_active"):
        because = f"{after['name']} entered the Lighthouse program ({after.get('health_category')})"
        return replan_for_account(view, decision, after, policy, now, because)
    return decision


def lighthouse_exit(policy: Policy) -> Handler:
    """A person decided the account leaves Lighthouse: recorded, with who and why."""

    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        account_id = str(event.payload["account_id"])
        account = view.get(ACCOUNTS, account_id)
        if account is None:
            raise PermanentError(f"account {account_id} is not in the book")
        if not account.get("lighthouse_active"):
            return Decision(notes=[f"{account['name']} is not in Lighthouse: nothing to record"])
        by = str(event.payload["by"])
        if view.get(PEOPLE, by) is None:
            raise PermanentError(f"{by} is not in the directory: who decides must be")
        updated = exit_lighthouse(account, by, event.payload.get("note"), now)
        return Decision(
            changes=[Put(ACCOUNTS, account_id, updated)],
            notes=[
                f"{account['name']} leaves Lighthouse (entered "
                f"{account.get('lighthouse_entered_at')}), by {by}"
            ],
        )

    return handle
