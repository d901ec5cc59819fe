"""The quarterly call offer (the Scaled Success roadmap: "Quarterly offering of 30 minute
call with Scaled TA team"): once per fiscal quarter, the champions of every unmanaged
account are offered a ``scaled_success.call_offer_minutes`` call with the Technical
Advisor team and its booking link, by email from the team's address: held for review,
spaced from the account's other customer emails, in its TA's working hours, never to a
do-not-contact account (``shared.rules.customer_email``). The TA and the AE are on the
action, for the audit trail. Once per account and quarter: ``call-offer:{account}:FY2027-Q4``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.book import ACCOUNTS
from shared.cadences import Due, register
from shared.cadences.scaled_email import email_for
from shared.policy import Policy
from shared.processing import Decision, ReadView
from shared.rules.fiscal import fiscal_quarter
from shared.store import Store, Where

JOB = "call-offer"
CADENCE = "call-offer"
TOPIC = "quarterly call offer"


def quarter_of(now: datetime, policy: Policy) -> str:
    """The fiscal quarter ``now`` falls in, as periods name it: ``FY2027-Q4``."""
    quarter = fiscal_quarter(now.date(), policy.calendar)
    return f"FY{quarter.fiscal_year}-Q{quarter.quarter}"


class CallOffer:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        """Every unmanaged account with a champion to write to, once per fiscal quarter."""
        period = quarter_of(now, policy)
        return [
            Due(JOB, account_id, period, f"{JOB}:{account_id}:{period}")
            for account_id, doc in sorted(store.query(ACCOUNTS, Where("managed", "==", False)))
            if doc.get("champions")
        ]

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        account = view.get(ACCOUNTS, due.subject)
        if account is None or account.get("managed") is not False:
            return Decision(notes=[f"{due.subject}: no longer an unmanaged account, no call offer"])
        scaled = policy.scaled_success
        last_day = fiscal_quarter(now.date(), policy.calendar).end - timedelta(days=1)
        return email_for(
            view,
            account,
            due,
            policy,
            now,
            cadence=CADENCE,
            topic=TOPIC,
            template="call_offer",
            reason=(
                f"the {scaled.call_offer_minutes}-minute call with the Technical Advisor team, offered "
                f"to {account['name']}'s champions once per fiscal quarter ({due.period})"
            ),
            context={
                "minutes": scaled.call_offer_minutes,
                "booking_link": scaled.booking_link,
                "until": f"{last_day.day} {last_day:%B %Y}",
            },
            booking_link=scaled.booking_link,
            minutes=scaled.call_offer_minutes,
        )


register(CallOffer())
