"""Handlers: what each internal event does to the state, decided by the rules.

Each factory takes the policy and returns a ``Handler`` for ``shared.processing.process``:
it reads what it needs through the transaction's read view and returns a ``Decision``.
No clock, network or writes here.
"""

from __future__ import annotations

from datetime import datetime

from shared.book import ACCOUNTS, PEOPLE
from shared.events import EventEnvelope, doc_key
from shared.exceptions import PermanentError
from shared.policy import Policy
from shared.processing import Decision, Handler, Put, ReadView
from shared.rules.health import apply_score
from shared.rules.mail import apply_message, is_team_sender
from shared.rules.renewal import apply_opportunity
from shared.store import Document, Where

HEALTH_CHANGES = "health_changes"


def _account_by(view: ReadView, field: str, value: str | None) -> Document | None:
    if not value:
        return None
    found = view.query(ACCOUNTS, Where(field, "==", value), limit=1)
    return found[0][1] if found else None


def renewal_changed(policy: Policy) -> Handler:
    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        opp = event.payload
        account = _account_by(view, "salesforce_id", opp.get("account_salesforce_id")) or _account_by(
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
    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        seen = event.payload
        account = _account_by(view, "vitally_id", seen.get("vitally_id"))
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


MAIL_THREADS = "mail_threads"


def group_message(policy: Policy) -> Handler:
    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        message = event.payload
        thread_key = doc_key(message["mailbox"], message["thread_id"])
        thread = view.get(MAIL_THREADS, thread_key)
        sender = message.get("from")
        in_directory = sender is not None and view.get(PEOPLE, sender) is not None
        from_team = is_team_sender(message, policy.group_mail.address, in_directory)
        updated, note = apply_message(thread, message, from_team)
        return Decision(
            changes=[Put(MAIL_THREADS, thread_key, updated.model_dump(mode="json"))], notes=[note]
        )

    return handle
