"""The coverage plan of one absence: which of the TA's accounts need cover while they are
away, and who covers each (the reasons and the choice of cover are ``shared.rules.coverage``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from shared.models import CoverageItem, CoveragePlan
from shared.policy import Policy
from shared.rules.coverage import Window, choose_covers, cover_reasons

Row = dict[str, Any]  # one account of the plan as the notices show it


@dataclass
class Drawn:
    """A plan as drawn: the stored plan, a row per account needing cover, and why."""

    plan: CoveragePlan
    rows: list[Row]
    share: bool  # shared with the account teams (else a draft for the TA and manager)
    notes: list[str] = field(default_factory=list)


def name_of(people: Mapping[str, Mapping[str, Any]], email: str) -> str:
    return str((people.get(email) or {}).get("name") or email)


def is_shared(status: str, policy: Policy) -> bool:
    """An approved absence's plan is shared; a requested one too when the policy says so."""
    return status == "APPROVED" or (status == "REQUESTED" and policy.coverage.share_at == "requested")


def draw_plan(
    absence_id: str,
    status: str,
    ta: Mapping[str, Any],
    window: Window,
    people: Mapping[str, Mapping[str, Any]],
    accounts: Sequence[Mapping[str, Any]],
    absences: Sequence[Mapping[str, Any]],
    policy: Policy,
) -> Drawn:
    """The plan for ``ta``'s absence over ``window``: the accounts that need cover, each
    with its reasons and a cover who is not away."""
    needing = [(a, cover_reasons(a, window, policy.coverage)) for a in accounts]
    needing = [(a, r) for a, r in needing if r]
    covers, notes = choose_covers(ta, [a for a, _ in needing], people, absences, window, absence_id)
    share = is_shared(status, policy)
    plan = CoveragePlan(
        absence_id=absence_id,
        ta=str(ta["email"]),
        start=window.start,
        end=window.end,
        status="shared" if share else "draft",
        items=[
            CoverageItem(account_id=str(a["id"]), reasons=[code for code, _ in r], cover=covers[str(a["id"])])
            for a, r in needing
            if str(a["id"]) in covers
        ],
        accounts_without_cover_needs=len(accounts) - len(needing),
    )
    rows: list[Row] = [
        {
            "id": str(a["id"]),
            "name": str(a.get("name") or a["id"]),
            "why": "; ".join(s for _, s in r),
            "codes": [code.value for code, _ in r],
            "cover": covers.get(str(a["id"]), "-"),
            "cover_name": name_of(people, covers.get(str(a["id"]), "")),
            "renewal": a.get("renewal_date"),
            "health": a.get("health_category"),
            "account": a,
        }
        for a, r in needing
    ]
    return Drawn(plan, rows, share, notes)


def window_for(absence: Mapping[str, Any]) -> Window:
    """The window of a stored absence (its instants in UTC, its days as the TA counts them)."""
    start = datetime.fromisoformat(str(absence["starts_at"]))
    end = datetime.fromisoformat(str(absence["ends_at"]))
    return Window(
        start.astimezone(UTC),
        end.astimezone(UTC),
        date.fromisoformat(str(absence["start_date"])),
        date.fromisoformat(str(absence["end_date"])),
    )
