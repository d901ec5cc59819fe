"""The monthly contact rule (the handbook's General Customer Interaction: "Every customer
should be contacted in some form at least once a month").

An account whose ``last_contact`` is older than ``contact.staleness_days`` is stale; its
TA (routed, in working hours) gets one reminder per stale period, naming the days since
and the channel of that last contact. The period is the last contact's date
(``contact:{account}:{last_contact}``): a contact ends it, and the account is reminded
again only once it has gone stale from the new date. An account with no contact on record
is reminded once (period ``never``). The channel is the account's ``last_contact_channel``,
set where taops learns of a contact: "email (pooled mailbox)" for a team reply in the
pooled mailbox, "Vitally" for Vitally's last outbound message (the vitally-sync job).

Every account with a TA counts, managed or not: the handbook says every customer, and an
unmanaged (Scaled Success) account still has its scaled TA, whose automated recaps reach
``last_contact`` through Vitally's last outbound message. An account without a TA has
nobody to remind.

``due`` reads only what is stale: a range query on ``last_contact`` (Firestore's automatic
single-field index), plus the accounts with none.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from shared.book import ACCOUNTS
from shared.cadences import Due, register
from shared.handlers.common import ViewDirectory
from shared.policy import Policy
from shared.processing import Decision, ReadView
from shared.rules.notify import tell
from shared.store import Store, Where

JOB = "contact-check"
CADENCE = "contact"
NEVER = "never"


def key(account_id: str, period: str) -> str:
    return f"{CADENCE}:{account_id}:{period}"


def stale_before(policy: Policy, now: datetime) -> date:
    """A last contact before this day is older than ``contact.staleness_days``."""
    return now.date() - timedelta(days=policy.contact.staleness_days)


def is_stale(account: dict[str, Any], policy: Policy, now: datetime) -> bool:
    last = account.get("last_contact")
    return last is None or str(last)[:10] < stale_before(policy, now).isoformat()


class Contact:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        cutoff = stale_before(policy, now).isoformat()
        stale = store.query(ACCOUNTS, Where("last_contact", "<", cutoff))
        never = store.query(ACCOUNTS, Where("last_contact", "==", None))
        out = []
        for account_id, doc in sorted([*stale, *never]):
            if not doc.get("ta"):
                continue
            period = str(doc["last_contact"])[:10] if doc.get("last_contact") else NEVER
            out.append(Due(JOB, account_id, period, key(account_id, period)))
        return out

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        account = view.get(ACCOUNTS, due.subject)
        if account is None or not account.get("ta"):
            return Decision(notes=[f"{due.subject}: no longer an account with a TA, no reminder"])
        name = account.get("name") or account["id"]
        current = str(account["last_contact"])[:10] if account.get("last_contact") else NEVER
        if current != due.period:
            return Decision(notes=[f"{name}: contacted since, on {current}: no reminder for {due.period}"])
        if not is_stale(account, policy, now):
            return Decision(notes=[f"{name}: last contact {current} is recent enough, no reminder"])
        days = policy.contact.staleness_days
        channel = account.get("last_contact_channel")
        if current == NEVER:
            state, days_since = "has no contact on record", None
        else:
            days_since = (now.date() - date.fromisoformat(current)).days
            how = f" by {channel}" if channel else " (channel not recorded)"
            state = f"was last contacted {days_since} days ago, on {current}{how}"
        reason = f"{name} {state}: every customer should hear from us at least every {days} days"
        told = tell(
            str(account["ta"]),
            key=due.key,
            reason=reason,
            subject=f"{name}: time to get in touch",
            text=(
                f"{name} {state}. The handbook asks that every customer be contacted in some "
                "form at least once a month: a check-in call, or for a healthy account a quick "
                "email or Slack message, is enough."
            ),
            account_id=str(account["id"]),
            directory=ViewDirectory(view, now),
            calendar=policy.calendar,
            now=now,
            cadence=CADENCE,
            period=due.period,
            days_since=days_since,
            last_contact=None if current == NEVER else current,
            last_channel=channel,
        )
        last = "no contact on record" if current == NEVER else f"last contact {current}"
        return Decision(actions=[told.action], notes=[f"{name}: {last}, reminder to {told.note}"])


register(Contact())
