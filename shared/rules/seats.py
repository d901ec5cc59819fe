"""Seat alerts: the Scaled Success roadmap's "Notification to AE when account hits 90% &
100% of seats" (thresholds: ``scaled_success.seat_alert_percents``).

**Which accounts.** The unmanaged ones (``managed: false``), by default. The line sits in
the Scaled Success program's roadmap, and issue 13 ships it as part of that program: a
managed account has a dedicated TA who reviews seats with the customer and the AE every
month (MBR, health traits), while nobody watches an unmanaged account's licence until the
customer runs out of it. ``scaled_success.seat_alerts_for: all`` extends it to every
account with licensed seats.

**The term** an alert belongs to, as the ``term`` string of its key
(``seats90:{account}:{term}``):

1. the contract term that holds today: ``{contract_start}..{contract_end}``
   (``2026-02-01..2027-01-31``; ``..2027-01-31`` when only its end is known);
2. a term alerted in that has not ended yet stays the term, whatever the renewal date
   says meanwhile (a renewal closed early moves the date a year on; the term still runs);
3. after the known contract term, the period up to the renewal date:
   ``{contract_end + 1 day}..{renewal_date}`` (Salesforce keeps the renewal date current,
   not the contract dates);
4. with no contract dates, the period up to the renewal date: ``..{renewal_date}``;
5. otherwise the last known contract term, and ``open`` when nothing is known.

Two terms are the same when their strings are, or when both have the same known first
day (a renewal that slips moves the end of ``2027-02-01..2027-03-01``, not the term).
Without any start, a term is known only by its end: a renewal date that moves for good
starts a new term there.

**Once per threshold per term.** The account records the thresholds its AE was told of
in the current term (``seat_alerts``); a count that drops and rises again in the same term
tells nobody, a new term tells again. A count that crosses several thresholds at once
(85% → 100%) gives one alert, for the highest, which names the ones passed with it; they
count as told (an AE who reads "100%" knows 90% went by). The action key is the highest
threshold's, so the vitally-sync handler (at once) and the ``seat-check`` job (daily)
never both send one.

**Who hears.** The AE (routed around absences, held for working hours); the TA gets a copy
of their own (``{key}:ta``), unless the routing sends both to the same person. An account
without an AE: its TA hears it.

**The due index.** ``seat_check_at`` tells the ``seat-check`` job when to look at an
account: now, when an alert is owed; the day after the current term ends, when every
threshold reached is told (the next term may owe them again); never (null) when no
threshold is reached, or no end of term is known (a seat change, or a renewal Salesforce
moves, sets it again). The book import cannot trust its clock (a replay imports at the
wall-clock time), so it asks the job to look at once at an account over a threshold
(``LOOK_NOW``); the job settles it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shared.messages import in_days
from shared.models import Action, utc_text
from shared.policy import Policy
from shared.rules.notify import names, tell
from shared.rules.routing import Directory

CADENCE = "seats"
JOB = "seat-check"
# "Look at the next tick": earlier than any tick, for writers without a trustworthy clock.
LOOK_NOW = "1970-01-01T00:00:00Z"
TREND_SHOWN = 6


@dataclass(frozen=True)
class Term:
    """A contract term, or the part of it taops knows (either end may be unknown)."""

    start: date | None
    end: date | None

    @property
    def text(self) -> str:
        if self.start is None and self.end is None:
            return "open"
        return f"{self.start or ''}..{self.end or ''}"

    def describe(self) -> str:
        if self.start and self.end:
            return f"{self.start} to {self.end}"
        if self.end:
            return f"up to {self.end}"
        if self.start:
            return f"from {self.start}"
        return "no contract term or renewal date known"

    def recorded(self) -> dict[str, Any]:
        return {
            "term": self.text,
            "term_start": self.start.isoformat() if self.start else None,
            "term_end": self.end.isoformat() if self.end else None,
        }

    def same_as(self, told: Mapping[str, Any]) -> bool:
        if told.get("term") == self.text:
            return True
        return self.start is not None and told.get("term_start") == self.start.isoformat()


@dataclass
class SeatOutcome:
    account: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _count(account: Mapping[str, Any], name: str) -> int:
    try:
        return int(account.get(name) or 0)
    except (TypeError, ValueError):
        return 0


def current_term(account: Mapping[str, Any], today: date) -> Term:
    """The contract term ``today`` falls in, as far as the account knows it (module docstring)."""
    start, end = _day(account.get("contract_start")), _day(account.get("contract_end"))
    renewal = _day(account.get("renewal_date"))
    if start is not None and end is not None and start > end:
        start = None
    if start is not None and start > today:
        # A contract booked ahead: today is in the period before it.
        return Term(None, start - timedelta(days=1))
    if end is not None and end >= today:
        return Term(start, end)
    told = account.get("seat_alerts") or {}
    told_end = _day(told.get("term_end"))
    if told_end is not None and told_end >= today:
        return Term(_day(told.get("term_start")), told_end)
    if end is not None and renewal is not None and renewal > end:
        return Term(end + timedelta(days=1), renewal)
    if end is None and renewal is not None:
        return Term(start if start is not None and start <= renewal else None, renewal)
    return Term(start, end)


def in_program(account: Mapping[str, Any], policy: Policy) -> bool:
    """Whether the account's AE hears of its seats (``scaled_success.seat_alerts_for``)."""
    if _count(account, "seats_licensed") <= 0:
        return False
    return policy.scaled_success.seat_alerts_for == "all" or account.get("managed") is False


def reached(account: Mapping[str, Any], policy: Policy) -> list[int]:
    """The thresholds the seats used have reached (whole numbers: 900 of 1,000 is 90%)."""
    used, licensed = _count(account, "seats_used"), _count(account, "seats_licensed")
    if licensed <= 0:
        return []
    return [p for p in policy.scaled_success.seat_alert_percents if used * 100 >= p * licensed]


def told_in(account: Mapping[str, Any], term: Term) -> set[int]:
    told = account.get("seat_alerts") or {}
    return {int(p) for p in told.get("percents") or []} if told and term.same_as(told) else set()


def owed(account: Mapping[str, Any], policy: Policy, today: date) -> tuple[Term, list[int]]:
    """The current term and the thresholds reached that its AE has not been told of."""
    term = current_term(account, today)
    if not in_program(account, policy):
        return term, []
    done = told_in(account, term)
    return term, [p for p in reached(account, policy) if p not in done]


def alert_key(account_id: str, threshold: int, term: Term) -> str:
    return f"seats{threshold}:{account_id}:{term.text}"


def check_at(account: Mapping[str, Any], policy: Policy, now: datetime | None) -> str | None:
    """The account's ``seat_check_at``: when the seat-check job should next look at it."""
    if not in_program(account, policy) or not reached(account, policy):
        return None
    if now is None:
        return LOOK_NOW
    term, due = owed(account, policy, now.date())
    if due:
        return utc_text(now)
    if term.end is None or term.end < now.date():
        return None
    return utc_text(datetime.combine(term.end + timedelta(days=1), time(0), tzinfo=UTC))


def watched(account: Mapping[str, Any], policy: Policy, now: datetime | None) -> dict[str, Any]:
    """The account with its ``seat_check_at`` current (``now`` None: the book import)."""
    return {**account, "seat_check_at": check_at(account, policy, now)}


def record_seats(
    before: Mapping[str, Any], after: Mapping[str, Any], at: datetime, policy: Policy
) -> dict[str, Any]:
    """``after`` with its seat count added to ``seats_history`` (the last
    ``seat_history_kept``); the first change also keeps the count it replaced."""
    history = list(before.get("seats_history") or [])
    if not history and _count(before, "seats_licensed") > 0:
        history.append(
            {"at": None, "used": _count(before, "seats_used"), "licensed": _count(before, "seats_licensed")}
        )
    seen = {
        "at": utc_text(at),
        "used": _count(after, "seats_used"),
        "licensed": _count(after, "seats_licensed"),
    }
    if not history or (history[-1]["used"], history[-1]["licensed"]) != (seen["used"], seen["licensed"]):
        history.append(seen)
    return {**after, "seats_history": history[-policy.scaled_success.seat_history_kept :]}


def _percent(used: int, licensed: int) -> str:
    return f"{round(used * 100 / licensed, 1):g}%" if licensed else "n/a"


def trend(account: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The last seat counts, oldest first, as the alert carries them."""
    return list(account.get("seats_history") or [])[-TREND_SHOWN:]


def trend_line(account: Mapping[str, Any]) -> str:
    shown = trend(account)
    if not shown:
        return "No earlier seat counts recorded."
    steps = [
        f"{h['used']:,}/{h['licensed']:,} ({_percent(h['used'], h['licensed'])})"
        + (f" on {str(h['at'])[:10]}" if h.get("at") else " earlier")
        for h in shown
    ]
    return "Seats used, oldest first: " + " → ".join(steps) + "."


def renewal_line(account: Mapping[str, Any], today: date) -> str:
    renewal = _day(account.get("renewal_date"))
    if renewal is None:
        return "Renewal date: not known."
    return f"Renewal: {renewal} ({in_days((renewal - today).days)})."


def alert(account: dict[str, Any], directory: Directory, policy: Policy, now: datetime) -> SeatOutcome:
    """The seat alert the account owes now, if any, and the account with what it records
    (``seat_alerts``, ``seat_check_at``)."""
    term, due = owed(account, policy, now.date())
    if not due:
        return SeatOutcome(watched(account, policy, now))
    account_id = str(account["id"])
    name = account.get("name") or account_id
    used, licensed = _count(account, "seats_used"), _count(account, "seats_licensed")
    top = max(due)
    key = alert_key(account_id, top, term)
    pct = _percent(used, licensed)
    passed = [p for p in due if p != top]
    also = f" ({', '.join(f'{p}%' for p in passed)} passed with it: no separate alert)" if passed else ""
    advice = (
        "Every licensed seat is in use: new users may be turned away until the licence grows."
        if used >= licensed
        else "Seats are running out: a good moment to talk about more before they do."
    )
    text = (
        f"{name} uses {used:,} of its {licensed:,} licensed seats ({pct}): it has reached {top}% "
        f"of its seats{also} in its contract term {term.describe()}.\n"
        f"{trend_line(account)}\n{renewal_line(account, now.date())}\n{advice}"
    )
    subject = f"Seats: {name} has reached {top}% ({used:,} of {licensed:,} used)"
    why = (
        f"{name} reached {top}% of its licensed seats ({used:,} of {licensed:,}) in the term "
        f"{term.text}; its AE hears of each threshold once per contract term"
    )
    fields: dict[str, Any] = {
        "cadence": CADENCE,
        "period": term.text,
        "term": term.text,
        "threshold": top,
        "thresholds": sorted(due),
        "seats_used": used,
        "seats_licensed": licensed,
        "seats_percent": round(used * 100 / licensed, 1),
        "renewal_date": str(account["renewal_date"])[:10] if account.get("renewal_date") else None,
        "seats_trend": trend(account),
    }
    common: dict[str, Any] = {
        "subject": subject,
        "text": text,
        "account_id": account_id,
        "directory": directory,
        "calendar": policy.calendar,
        "now": now,
        "default_timezone": policy.group_mail.time_zone,
        **fields,
    }
    ae, ta = account.get("ae"), account.get("ta")
    actions: list[Action] = []
    if ae:
        actions.append(tell(ae, key=key, reason=f"{why}; you are its AE", **common).action)
    if ta and ta != ae:
        role = "copied to you as its TA" if ae else "it has no AE, so its TA hears it"
        copy = tell(ta, key=f"{key}:ta" if ae else key, reason=f"{why}; {role}", **common).action
        if not actions or copy.recipients != actions[0].recipients:
            actions.append(copy)
    told = sorted({*told_in(account, term), *reached(account, policy)})
    updated = {**account, "seat_alerts": {**term.recorded(), "percents": told, "at": utc_text(now)}}
    updated = watched(updated, policy, now)
    who = names(directory, [a.recipients[0] for a in actions]) if actions else "nobody (no AE or TA)"
    note = (
        f"{name}: seats {used:,} of {licensed:,} ({pct}) reached {top}%{also} in term {term.text}: told {who}"
    )
    return SeatOutcome(updated, actions, [note])
