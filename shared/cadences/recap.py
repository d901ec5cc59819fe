"""The monthly usage recap (the Scaled Success roadmap: "Tailored monthly usage recap
emails for customers who have fallen behind in upgrading", with "enablement and nurture
email campaigns sharing blogs & content, and youtube videos"): every unmanaged account
``scaled_success.upgrade_lag_versions`` or more releases behind gets one recap a month,
to its champions: its deployed version, the releases it is missing with their highlights
(``scaled_success.releases``), its seats in use, and enablement content it was never sent
(``scaled_success.content``). Through ``shared.rules.customer_email`` like every customer
email. Once per account and month: ``recap:{account}:2026-12``.

An item goes to an account once: what was sent is read from the account's recaps in the
outbox (``content_ids``), so a recap that was cancelled, failed or skipped gives its items
back to the next one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from shared.book import ACCOUNTS
from shared.cadences import Due, register
from shared.cadences.scaled_email import email_for
from shared.policy import ContentItem, Policy, Release
from shared.processing import Decision, ReadView
from shared.rules.customer_email import counted, history
from shared.store import Store, Where

JOB = "usage-recap"
CADENCE = "recap"
TOPIC = "usage recap"


def version_key(version: str | None) -> tuple[int, ...]:
    """A version's numbers, for ordering ("6.10" after "6.9"); () when it has none."""
    return tuple(int(n) for n in re.findall(r"\d+", version or ""))


def released(policy: Policy, today: date) -> list[Release]:
    """The policy's releases out by ``today``, oldest first."""
    out = [r for r in policy.scaled_success.releases if r.date <= today]
    return sorted(out, key=lambda r: (r.date, version_key(r.version)))


def missing_releases(account: Mapping[str, Any], policy: Policy, today: date) -> list[Release]:
    """The releases the account does not run: those after its deployed version, else (no
    version reported, or one the list cannot place) its last ``versions_behind``."""
    out = released(policy, today)
    deployed = version_key(account.get("deployed_version"))
    if deployed:
        return [r for r in out if version_key(r.version) > deployed]
    behind = int(account.get("versions_behind") or 0)
    return out[-behind:] if behind else []


def sent_content(past: Sequence[Mapping[str, Any]]) -> set[str]:
    """Content items the account's recaps carried that went, or will go, out."""
    return {
        str(c) for doc in counted(past) if doc.get("cadence") == CADENCE for c in doc.get("content_ids") or []
    }


def fresh_content(
    missing: Sequence[Release], past: Sequence[Mapping[str, Any]], policy: Policy, today: date
) -> list[ContentItem]:
    """Up to ``recap_max_items`` items the account was never sent and that are out by
    ``today``: first those about the releases it is missing, then general ones, newest
    first in each."""
    sent = sent_content(past)
    versions = {r.version for r in missing}
    live = [c for c in policy.scaled_success.content if c.date <= today and c.id not in sent]
    newest = sorted(live, key=lambda c: (c.date, c.id), reverse=True)
    about = [c for c in newest if c.version in versions]
    general = [c for c in newest if c.version is None]
    return (about + general)[: policy.scaled_success.recap_max_items]


def is_behind(account: Mapping[str, Any], policy: Policy) -> bool:
    return int(account.get("versions_behind") or 0) >= policy.scaled_success.upgrade_lag_versions


class UsageRecap:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        """Every unmanaged account behind on upgrades with a champion to write to, monthly."""
        period = f"{now:%Y-%m}"
        return [
            Due(JOB, account_id, period, f"{CADENCE}:{account_id}:{period}")
            for account_id, doc in sorted(store.query(ACCOUNTS, Where("managed", "==", False)))
            if doc.get("champions") and is_behind(doc, policy)
        ]

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        account = view.get(ACCOUNTS, due.subject)
        if account is None or account.get("managed") is not False:
            return Decision(notes=[f"{due.subject}: no longer an unmanaged account, no usage recap"])
        name = account["name"]
        behind = int(account.get("versions_behind") or 0)
        if not is_behind(account, policy):
            return Decision(notes=[f"{name}: {behind} releases behind now, no usage recap"])
        today = now.date()
        past = history(view, str(account["id"]))
        missing = missing_releases(account, policy, today)
        items = fresh_content(missing, past, policy, today)
        out = released(policy, today)
        deployed = account.get("deployed_version")
        month = datetime.strptime(due.period, "%Y-%m")
        return email_for(
            view,
            account,
            due,
            policy,
            now,
            cadence=CADENCE,
            topic=TOPIC,
            template="usage_recap",
            reason=(
                f"{name} is {behind} releases behind (deployed: {deployed or 'not reported'}; "
                f"the upgrade lag for a recap is {policy.scaled_success.upgrade_lag_versions}): "
                f"the monthly usage recap for {due.period}"
            ),
            context={
                "month": f"{month:%B %Y}",
                "deployed": deployed,
                "behind": behind,
                "latest": out[-1].version if out else None,
                "seats_used": int(account.get("seats_used") or 0),
                "seats_licensed": int(account.get("seats_licensed") or 0),
                "missing": [
                    {"version": r.version, "date": r.date.isoformat(), "highlights": r.highlights}
                    for r in missing
                ],
                "items": [{"title": c.title, "kind": c.kind, "url": c.url} for c in items],
            },
            past=past,
            deployed_version=deployed,
            versions_behind=behind,
            missing_versions=[r.version for r in missing],
            content_ids=[c.id for c in items],
        )


register(UsageRecap())
