"""The OOO coverage plan, as the handbook's OOO protocol describes it.

Which accounts need cover while a TA is away (renewing during the absence; unhealthy with
an active Lighthouse save plan; active on their customer Slack channel with open support
tickets), and who covers each: a named peer who is not away at any point of the window,
balanced by number of accounts and then ARR; the TA's manager when no peer is free.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from shared.models import CoverReason
from shared.policy import Coverage

# An absence in these states takes the person out of the rota.
AWAY_STATUSES = frozenset({"REQUESTED", "APPROVED", "USED"})


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    first_day: date  # in the TA's time zone
    last_day: date

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return start < self.end and self.start < end


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def _day(value: Any) -> date | None:
    return date.fromisoformat(str(value)[:10]) if value else None


def renews_during(renewal: date, window: Window, policy: Coverage) -> bool:
    """A renewal on this day makes the account need cover for the absence: inside it, or
    within ``renewal_margin_days`` of the return."""
    return window.first_day <= renewal <= window.last_day + timedelta(days=policy.renewal_margin_days)


def cover_reasons(
    account: Mapping[str, Any], window: Window, policy: Coverage
) -> list[tuple[CoverReason, str]]:
    """Every reason this account needs cover during ``window``, each with a sentence."""
    reasons: list[tuple[CoverReason, str]] = []
    renewal = _day(account.get("renewal_date"))
    if renewal and renews_during(renewal, window, policy):
        inside = renewal <= window.last_day
        where = "inside the absence" if inside else f"within {policy.renewal_margin_days} days of the return"
        reasons.append((CoverReason.RENEWING, f"renews {renewal.isoformat()}, {where}"))
    category = account.get("health_category")
    if account.get("lighthouse_active") and category in {c.value for c in policy.unhealthy_categories}:
        reasons.append((CoverReason.LIGHTHOUSE, f"health is {category} with an active Lighthouse save plan"))
    activity = _when(account.get("slack_last_activity"))
    tickets = int(account.get("open_tickets") or 0)
    recent = activity is not None and activity >= window.start - timedelta(
        days=policy.slack_activity_window_days
    )
    if recent and tickets >= policy.min_open_tickets and activity is not None:
        reasons.append(
            (
                CoverReason.SLACK_ACTIVE_WITH_TICKETS,
                f"active on Slack on {activity.date().isoformat()} with {tickets} open support ticket"
                + ("s" if tickets != 1 else ""),
            )
        )
    return reasons


def absence_during(
    person: str, window: Window, absences: Iterable[Mapping[str, Any]], *, except_absence: str = ""
) -> Mapping[str, Any] | None:
    """The first live absence of ``person`` overlapping any part of ``window``, if any."""
    for absence in absences:
        if absence.get("person") != person or absence.get("id") == except_absence:
            continue
        if absence.get("status") not in AWAY_STATUSES:
            continue
        start, end = _when(absence.get("starts_at")), _when(absence.get("ends_at"))
        if start and end and window.overlaps(start, end):
            return absence
    return None


def is_away(
    person: str, window: Window, absences: Iterable[Mapping[str, Any]], *, except_absence: str = ""
) -> bool:
    """Whether ``person`` has a live absence overlapping any part of ``window``."""
    return absence_during(person, window, absences, except_absence=except_absence) is not None


def choose_covers(
    ta: Mapping[str, Any],
    accounts: Sequence[Mapping[str, Any]],
    people: Mapping[str, Mapping[str, Any]],
    absences: Sequence[Mapping[str, Any]],
    window: Window,
    absence_id: str,
    current: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """A cover for each account (by id), and a sentence per peer passed over.

    An account keeps its ``current`` cover (the stored plan's) while that cover may still
    cover it: a named peer who is free, or the manager standing in. So a re-plan moves
    only the accounts whose cover is away (or no longer a peer) and places new ones; it
    never hands accounts back and forth as loads or absences change. The others go
    largest ARR first to the free peer with the fewest accounts so far, then the least
    ARR so far, then by email, so the same inputs always give the same plan; with no
    free peer, to the TA's manager.
    """
    free, notes = _free_peers(ta, people, absences, window, absence_id)
    manager = ta.get("manager")
    keep = set(free)
    if manager and not is_away(str(manager), window, absences, except_absence=absence_id):
        keep.add(str(manager))
    covers = {
        str(a["id"]): (current or {})[str(a["id"])]
        for a in accounts
        if (current or {}).get(str(a["id"])) in keep
    }
    rest = [a for a in accounts if str(a["id"]) not in covers]
    if not free:
        if not manager:
            return covers, [*notes, "no peer is free and the TA has no manager"]
        notes.append(f"no named peer is free: {manager} (manager) covers")
        if is_away(str(manager), window, absences, except_absence=absence_id):
            notes.append(f"{manager} (manager) is away too: nobody else is named to cover")
        return {**covers, **{str(a["id"]): str(manager) for a in rest}}, notes
    load = {peer: (0, 0.0) for peer in free}
    by_id = {str(a["id"]): a for a in accounts}
    for account_id, cover in covers.items():
        if cover in load:
            load[cover] = (load[cover][0] + 1, load[cover][1] + float(by_id[account_id].get("arr") or 0))
    for account in sorted(rest, key=lambda a: (-float(a.get("arr") or 0), str(a["id"]))):
        peer = min(free, key=lambda p: (load[p][0], load[p][1], p))
        covers[str(account["id"])] = peer
        load[peer] = (load[peer][0] + 1, load[peer][1] + float(account.get("arr") or 0))
    return covers, notes


def _free_peers(
    ta: Mapping[str, Any],
    people: Mapping[str, Mapping[str, Any]],
    absences: Sequence[Mapping[str, Any]],
    window: Window,
    absence_id: str,
) -> tuple[list[str], list[str]]:
    """The TA's named peers free for the whole window, and a sentence per peer who is not."""
    notes: list[str] = []
    free: list[str] = []
    for peer in ta.get("coverage_peers") or []:
        if peer not in people or people[peer].get("role") != "TA":
            notes.append(f"{peer} is not a TA in the directory")
        elif is_away(peer, window, absences, except_absence=absence_id):
            notes.append(f"{peer} is away during part of this absence")
        else:
            free.append(peer)
    return free, notes
