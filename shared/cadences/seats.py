"""Seat alerts, the daily sweep (``seat-check``): the AE hears when an account's seats used
reach 90% and 100% of its licensed seats, once per threshold per contract term
(``seats90:{account}:{term}``; the rules and the term are ``shared.rules.seats``).

Most alerts go out at once, from the event that changed the seats (a Vitally sync or
playbook ping: ``shared.handlers.vitally_sync``). The sweep catches the rest: an account
imported over a threshold, and a new term that begins with the account still over one.

Due-indexed: it reads only the accounts whose ``seat_check_at`` has come (kept current
wherever seats or the term change), never the whole book. Each such account owing an
alert is a ``Due`` named by that alert's key; one owing nothing (its term ended with no
next one known, or the import asked for a look) is a ``Due`` that only settles its
``seat_check_at``, named by the value it settles (``seat-check:{account}:{seat_check_at}``).
"""

from __future__ import annotations

from datetime import datetime

from shared.book import ACCOUNTS
from shared.cadences import Due, register
from shared.handlers.common import ViewDirectory
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import Decision, Put, ReadView
from shared.rules import seats
from shared.store import Store, Where

JOB = seats.JOB


class SeatCheck:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        found = []
        for account_id, doc in sorted(store.query(ACCOUNTS, Where("seat_check_at", "<=", utc_text(now)))):
            term, owed = seats.owed(doc, policy, now.date())
            if owed:
                key = seats.alert_key(account_id, max(owed), term)
                found.append(Due(JOB, account_id, term.text, key, {"thresholds": owed}))
            elif seats.check_at(doc, policy, now) != doc.get("seat_check_at"):
                # One settling per account and day: an import that marks it again tomorrow
                # is a new look, not a duplicate of today's.
                key = f"{JOB}:{account_id}:{doc.get('seat_check_at')}@{now:%Y-%m-%d}"
                found.append(Due(JOB, account_id, term.text, key, {"settle": True}))
        return found

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        account = view.get(ACCOUNTS, due.subject)
        if account is None:
            return Decision(notes=[f"{due.subject}: no longer in the book, no seat alert"])
        outcome = seats.alert(account, ViewDirectory(view, now), policy, now)
        notes = outcome.notes or [
            f"{account.get('name') or due.subject}: no seat alert owed in term {due.period}; "
            f"next look {outcome.account.get('seat_check_at') or 'when its seats or renewal change'}"
        ]
        decision = Decision(actions=outcome.actions, notes=notes)
        if outcome.account != account:
            decision.changes.append(Put(ACCOUNTS, due.subject, outcome.account))
        return decision


register(SeatCheck())
