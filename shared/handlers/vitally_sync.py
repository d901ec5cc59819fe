"""The fields Vitally owns, kept current on the book's account (``account.traits`` events
from the ``vitally-sync`` job; ``shared.sources.vitally_sync``)."""

from __future__ import annotations

from datetime import datetime

from shared.book import ACCOUNTS
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.handlers.common import account_by
from shared.policy import VITALLY_FIELDS, Policy
from shared.processing import Decision, Handler, Put, ReadView
from shared.rules.book_sync import describe, field_changes


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
        return Decision(
            changes=[Put(ACCOUNTS, str(account["id"]), updated)],
            notes=[f"{name}: {describe(changes)} (Vitally)"],
        )

    return handle
