"""What the Scaled Success cadences share: one ``Due`` becomes one customer email
(``shared.rules.customer_email``), decided from the state read in the event's
transaction, with the TA and the AE on the action for the audit trail (never on the
email) and ``cadence`` and ``period`` for replay and the outbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.book import PEOPLE
from shared.cadences import Due
from shared.handlers.common import ViewDirectory
from shared.policy import Policy
from shared.processing import OUTBOX, Decision, Put, ReadView
from shared.rules.customer_email import Composed, compose, history


def as_decision(composed: Composed) -> Decision:
    """The email (or the record of its skip) and the note saying which."""
    return Decision(
        changes=[Put(OUTBOX, *composed.skipped)] if composed.skipped else [],
        actions=[composed.action] if composed.action else [],
        notes=[composed.note] if composed.note else [],
    )


def email_for(
    view: ReadView,
    account: Mapping[str, Any],
    due: Due,
    policy: Policy,
    now: datetime,
    *,
    cadence: str,
    topic: str,
    template: str,
    reason: str,
    context: Mapping[str, Any],
    past: Sequence[Mapping[str, Any]] | None = None,
    **fields: Any,
) -> Decision:
    """``due``'s email to ``account``'s champions, in the working hours of its TA (routed:
    an away TA's stand-in's), else of the team's time zone (``group_mail.time_zone``)."""
    ta = account.get("ta")
    person = view.get(PEOPLE, str(ta)) if ta else None
    composed = compose(
        account,
        key=due.key,
        reason=reason,
        topic=topic,
        template=template,
        context=context,
        history=past if past is not None else history(view, str(account["id"])),
        policy=policy,
        now=now,
        timezone=str((person or {}).get("timezone") or policy.group_mail.time_zone),
        hours_of=str(ta) if person else None,
        directory=ViewDirectory(view, now),
        cadence=cadence,
        period=due.period,
        ta=ta,
        ae=account.get("ae"),
        **fields,
    )
    return as_decision(composed)
