"""A TA's "Top 3" accounts for the MBR (design §6), and the same ranking for internal QBRs.

The handbook's criteria: top ARR spend, renewing in the current fiscal quarter, accounts
with expansion opportunities. Each account scores one point per criterion it meets:

- it is among the three highest-ARR accounts of the set ranked (ties in ARR go by id);
- its renewal date falls in the current fiscal quarter (the quarter of the review);
- it has an expansion opportunity.

Accounts rank by points, then ARR (highest first), then id; the Top 3 are the first three,
each with the sentence that says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared.policy import CalendarPolicy
from shared.rules.fiscal import fiscal_quarter

TOP_ARR = "top_arr"
RENEWING = "renewing_this_quarter"
EXPANSION = "expansion_opportunity"
CRITERIA = (TOP_ARR, RENEWING, EXPANSION)


@dataclass(frozen=True)
class Pick:
    account_id: str
    name: str
    arr: float
    criteria: tuple[str, ...]  # the criteria met, in CRITERIA order
    because: str  # "among the three highest ARR ($420,000); ... (2 of 3 criteria)"

    @property
    def why(self) -> str:
        """The sentence of why: ``Acme Corp: among the three highest ARR ... (3 of 3 criteria).``"""
        return f"{self.name}: {self.because}."

    @property
    def points(self) -> int:
        return len(self.criteria)

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "points": self.points,
            "criteria": list(self.criteria),
            "because": self.because,
            "why": self.why,
        }


def money(amount: float) -> str:
    return f"${amount:,.0f}"


def renewal_of(account: Mapping[str, Any]) -> date | None:
    value = account.get("renewal_date")
    if not value:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _because(account: Mapping[str, Any], criteria: tuple[str, ...], quarter_label: str) -> str:
    arr = money(float(account.get("arr") or 0))
    parts = []
    if TOP_ARR in criteria:
        parts.append(f"among the three highest ARR ({arr})")
    if RENEWING in criteria:
        parts.append(f"renews {renewal_of(account)}, in the current fiscal quarter ({quarter_label})")
    if EXPANSION in criteria:
        parts.append("has an expansion opportunity")
    if not parts:
        return f"meets none of the criteria; next by ARR ({arr})"
    return f"{'; '.join(parts)} ({len(criteria)} of 3 criteria)"


def rank(accounts: Iterable[Mapping[str, Any]], calendar: CalendarPolicy, day: date) -> list[Pick]:
    """Every account of the set, best first; ``day`` fixes the current fiscal quarter."""
    pool = list(accounts)
    quarter = fiscal_quarter(day, calendar)
    by_arr = sorted(pool, key=lambda a: (-float(a.get("arr") or 0), str(a["id"])))
    top_arr = {str(a["id"]) for a in by_arr[:3]}
    picks = []
    for account in pool:
        renews = renewal_of(account)
        met = (
            (TOP_ARR, str(account["id"]) in top_arr),
            (RENEWING, renews is not None and renews in quarter),
            (EXPANSION, bool(account.get("expansion_opportunity"))),
        )
        criteria = tuple(name for name, ok in met if ok)
        picks.append(
            Pick(
                str(account["id"]),
                str(account.get("name") or account["id"]),
                float(account.get("arr") or 0),
                criteria,
                _because(account, criteria, quarter.label),
            )
        )
    return sorted(picks, key=lambda p: (-p.points, -p.arr, p.account_id))


def top3(accounts: Iterable[Mapping[str, Any]], calendar: CalendarPolicy, day: date) -> list[Pick]:
    """The Top 3 (fewer when the set has fewer accounts)."""
    return rank(accounts, calendar, day)[:3]
