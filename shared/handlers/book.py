"""Keeping the book of business current: renewals from Salesforce, health from Vitally."""

from __future__ import annotations

from datetime import datetime

from shared.book import ACCOUNTS
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.handlers.common import HEALTH_CHANGES, account_by
from shared.policy import Policy
from shared.processing import Decision, Handler, Put, ReadView
from shared.rules.health import apply_score
from shared.rules.renewal import apply_opportunity


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
        changes: list[Put] = [Put(ACCOUNTS, account["id"], updated)] if updated != account else []
        return Decision(changes=list(changes), notes=notes or [f"{account['name']}: renewal unchanged"])

    return handle


def health_changed(policy: Policy) -> Handler:
    """A Vitally health score → the account's score and category; each category change logged."""

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
        decision = Decision(changes=[Put(ACCOUNTS, account["id"], updated)], notes=[note])
        if change is not None:
            decision.changes.append(Put(HEALTH_CHANGES, event.marker_id, change.model_dump(mode="json")))
        return decision

    return handle
