"""The fields Vitally owns, kept current on the book's account (``account.traits`` events
from the ``vitally-sync`` job, ``shared.sources.vitally_sync``, and from playbook pings
that carry them). A change of seats is recorded in the account's seat history and decides
the seat alert at once (``shared.rules.seats``), in the same commit."""

from __future__ import annotations

from datetime import datetime

from shared.book import ACCOUNTS
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.handlers.common import ViewDirectory, account_by
from shared.policy import VITALLY_FIELDS, Policy
from shared.processing import Decision, Handler, Put, ReadView
from shared.rules import seats
from shared.rules.book_sync import describe, field_changes

SEAT_FIELDS = ("seats_used", "seats_licensed")


def account_traits(policy: Policy) -> Handler:
    """Vitally's seats, versions, activity and tickets → only the book fields that differ."""

    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        seen = event.payload
        account = account_by(view, "vitally_id", seen.get("vitally_id"))
        if account is None and seen.get("external_id"):
            account = view.get(ACCOUNTS, str(seen["external_id"]))
        if account is None:
            raise PermanentError(
                f"Vitally account {seen.get('vitally_id')} "
                f"(externalId {seen.get('external_id')}) is not in the book"
            )
        fields = seen.get("fields")
        if not isinstance(fields, dict) or not set(fields) <= set(VITALLY_FIELDS):
            raise PermanentError(f"fields: must map some of {', '.join(VITALLY_FIELDS)} to values")
        name = account.get("name", account["id"])
        changes = field_changes(account, fields)
        if not changes:
            return Decision(notes=[f"{name}: Vitally's fields already current"])
        updated = {**account, **{field: new for field, (_, new) in changes.items()}}
        if "last_contact" in changes:
            updated["last_contact_channel"] = "Vitally"  # the contact rule names the channel
        decision = Decision(notes=[f"{name}: {describe(changes)} (Vitally)"])
        if any(field in changes for field in SEAT_FIELDS):
            # The rule is handed the account as this decision writes it (new seats and
            # history): no read of the account is needed after the update.
            updated = seats.record_seats(account, updated, event.occurred_at, policy)
            outcome = seats.alert(updated, ViewDirectory(view, now), policy, now)
            updated = outcome.account
            decision.actions.extend(outcome.actions)
            decision.notes.extend(outcome.notes)
        decision.changes.insert(0, Put(ACCOUNTS, str(account["id"]), updated))
        return decision

    return handle
