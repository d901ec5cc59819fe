"""Keeping an account's renewal current from Salesforce opportunity changes."""

from __future__ import annotations

from typing import Any

from shared.policy import Renewal


def is_renewal(opportunity: dict[str, Any], account: dict[str, Any], policy: Renewal) -> bool:
    """The opportunity is the account's renewal: its Type says so, or (CDC updates often
    leave Type out) it is the opportunity already recorded as the renewal."""
    if opportunity.get("type"):
        return opportunity["type"] in policy.opportunity_types
    return opportunity["opportunity_id"] == account.get("renewal_opportunity_id")


def is_expansion(opportunity: dict[str, Any], policy: Renewal) -> bool:
    return bool(opportunity.get("type")) and opportunity["type"] in policy.expansion_types


def apply_opportunity(
    account: dict[str, Any], opportunity: dict[str, Any], policy: Renewal
) -> tuple[dict[str, Any], list[str]]:
    """The account updated from one opportunity, and what changed, one sentence each.

    Only fields the opportunity carries are applied: a CDC update names just what changed.
    """
    updated = dict(account)
    notes: list[str] = []
    name = account.get("name", account.get("id"))
    opp = opportunity["opportunity_id"]
    if is_renewal(opportunity, account, policy):
        updated["renewal_opportunity_id"] = opp
        for source, target, label in (
            ("close_date", "renewal_date", "renewal date"),
            ("stage", "renewal_stage", "renewal stage"),
            ("amount", "renewal_amount", "renewal amount"),
        ):
            value = opportunity.get(source)
            if value is not None and value != account.get(target):
                updated[target] = value
                notes.append(
                    f"{name}: {label} {account.get(target) or 'unset'} → {value} (opportunity {opp})"
                )
    elif is_expansion(opportunity, policy):
        open_now = not opportunity.get("is_closed")
        if open_now != bool(account.get("expansion_opportunity")):
            updated["expansion_opportunity"] = open_now
            state = "open" if open_now else "closed"
            notes.append(f"{name}: expansion opportunity {opp} is {state}")
    else:
        notes.append(
            f"{name}: opportunity {opp} of type {opportunity.get('type')!r} is neither renewal nor expansion"
        )
    return updated, notes
