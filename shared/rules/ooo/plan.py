"""The coverage plan of one absence: which of the TA's accounts need cover while they are
away, and who covers each (the reasons and the choice of cover are ``shared.rules.coverage``);
and, when a plan is re-drawn, how it differs from the one before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.messages import listing
from shared.models import CoverageItem, CoveragePlan
from shared.policy import Policy
from shared.rules.coverage import Window, absence_during, choose_covers, cover_reasons

Row = dict[str, Any]  # one account of the plan as the notices show it


@dataclass
class Revision:
    """How a re-drawn plan differs from the plan stored before it, in sentences."""

    before: CoveragePlan | None = None  # None: a first plan (or one after a withdrawal)
    moved_from: str | None = None  # the days before, when the dates changed: "2026-12-14–2026-12-18"
    changes: list[str] = field(default_factory=list)  # what changed, for everyone told again

    @property
    def was_shared(self) -> bool:
        """The plan had been shared with the account teams: its changes are news to them."""
        return self.before is not None and self.before.status == "shared"


@dataclass
class Drawn:
    """A plan as drawn: the stored plan, a row per account needing cover, and why."""

    plan: CoveragePlan
    rows: list[Row]
    share: bool  # shared with the account teams (else a draft for the TA and manager)
    notes: list[str] = field(default_factory=list)
    revision: Revision = field(default_factory=Revision)


def name_of(people: Mapping[str, Mapping[str, Any]], email: str) -> str:
    return str((people.get(email) or {}).get("name") or email)


def span(first: date | str, last: date | str) -> str:
    return f"{first}–{last}"


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
    before: CoveragePlan | None = None,
) -> Drawn:
    """The plan for ``ta``'s absence over ``window``: the accounts that need cover, each
    with its reasons and a cover who is not away; ``before`` is the plan stored so far,
    whose covers stay while they are free."""
    needing = [(a, cover_reasons(a, window, policy.coverage)) for a in accounts]
    needing = [(a, r) for a, r in needing if r]
    current = {i.account_id: i.cover for i in before.items} if before else {}
    covers, notes = choose_covers(ta, [a for a, _ in needing], people, absences, window, absence_id, current)
    plan = CoveragePlan(
        absence_id=absence_id,
        ta=str(ta["email"]),
        start=window.start,
        end=window.end,
        first_day=window.first_day,
        last_day=window.last_day,
        status="shared" if is_shared(status, policy) else "draft",
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
            "replaces": None,  # the cover before, when this re-plan changed it
            "account": a,
        }
        for a, r in needing
    ]
    drawn = Drawn(plan, rows, plan.status == "shared", notes)
    if before is not None:
        drawn.revision = revise(drawn, before, window, people, accounts, absences)
    return drawn


def revise(
    drawn: Drawn,
    before: CoveragePlan,
    window: Window,
    people: Mapping[str, Mapping[str, Any]],
    accounts: Sequence[Mapping[str, Any]],
    absences: Sequence[Mapping[str, Any]],
) -> Revision:
    """What changed between ``before`` and the plan just drawn, a sentence each: the
    dates, covers replaced (and why), accounts that joined or left. Marks each row whose
    cover changed with who covered it before."""
    revision = Revision(before)
    was_first, was_last = days_of(before)
    if (was_first, was_last) != (window.first_day, window.last_day):
        revision.moved_from = span(was_first, was_last)
        now_span = span(window.first_day, window.last_day)
        revision.changes.append(f"The time off moved from {revision.moved_from} to {now_span}.")
    covered_before = {i.account_id: i.cover for i in before.items}
    handed: dict[tuple[str, str], list[str]] = {}
    for row in drawn.rows:
        previous = covered_before.get(row["id"])
        if previous is None:
            revision.changes.append(f"{row['name']} now needs cover: {row['why']}.")
        elif previous != row["cover"]:
            away = absence_during(previous, window, absences, except_absence=before.absence_id)
            who = name_of(people, previous)
            if away is not None:
                first, last = away.get("start_date"), away.get("end_date")
                who += f", who is away on {first}" if first == last else f", who is away {first} to {last}"
            row["replaces"] = who
            handed.setdefault((row["cover"], who), []).append(row["name"])
    for (cover, who), names in handed.items():
        revision.changes.append(f"{name_of(people, cover)} covers {listing(names)} in place of {who}.")
    in_plan = {row["id"] for row in drawn.rows}
    account_names = {str(a["id"]): str(a.get("name") or a["id"]) for a in accounts}
    for account_id in covered_before:
        if account_id not in in_plan:
            revision.changes.append(f"{account_names.get(account_id, account_id)} no longer needs cover.")
    return revision


def days_of(plan: CoveragePlan) -> tuple[date, date]:
    """The days a stored plan covers (read from its instants when it predates the fields)."""
    first = plan.first_day or plan.start.astimezone(UTC).date()
    last = plan.last_day or (plan.end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return first, last


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
