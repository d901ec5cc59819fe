"""What each page of the operations view shows, as plain data: the templates render it,
``?format=json`` returns it, ``taops show`` prints parts of it.

Every page reads the read models of ``shared.dashboard.views`` and a few bounded, indexed
queries, never a whole collection of the state:

- Today: the mailbox board (one document per waiting thread), ``views/mailbox`` and
  ``views/directory``;
- Who is out: the absences that have not ended and begin within 30 days (one range
  query), their coverage plans (one read each), the live plans still in draft, the
  directory and the books of the TAs who are away (for account names);
- Accounts: ``views/health``, the directory and the books (one per TA; accounts without
  one in their AE's, else in one of sixteen);
- Actions: the outbox's pending and failed actions (equality queries) and the inputs
  refused in the last week (a range on ``received_at``).

Each function takes the store, the policy and ``now`` and raises what the store raises.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from shared.dashboard.views import (
    BOARD,
    CATEGORIES,
    DIRECTORY,
    HEALTH,
    MAILBOX_WEEK_PREFIX,
    VIEWS,
    book_id,
    health_changes,
    iso_week,
)
from shared.models import utc_text
from shared.policy import Policy
from shared.store import Document, Store, Where

ABSENCES = "absences"
COVERAGE_PLANS = "coverage_plans"
OUTBOX = "outbox"
DEAD_LETTERS = "dead_letters"

WEEKS_SHOWN = 8
OUT_HORIZON = timedelta(days=30)
CHANGES_SHOWN = timedelta(days=30)
HEALTH_DAYS_SHOWN = 90
REFUSED_SHOWN = timedelta(days=7)
ON_LEAVE = ("REQUESTED", "APPROVED", "USED")
# Who may press a button that changes state (cancel, retry).
ACTING_ROLES = frozenset({"TA_MANAGER", "TA_DIRECTOR", "TS_VP"})


class Directory:
    """Names and roles from ``views/directory`` (one read)."""

    def __init__(self, store: Store) -> None:
        self.people: dict[str, Document] = (store.get(VIEWS, DIRECTORY) or {}).get("people") or {}

    def name(self, email: str | None) -> str:
        if not email:
            return "-"
        return str((self.people.get(email) or {}).get("name") or email)

    def role(self, email: str | None) -> str | None:
        role = (self.people.get(email or "") or {}).get("role")
        return str(role) if role else None


def _books(store: Store) -> dict[str, Document]:
    """Every book view: one per TA and the shards of accounts without a TA."""
    return dict(store.query(VIEWS, Where("kind", "==", "book")))


def _level(level: Any) -> str:
    if level is None:
        return "-"
    return "reminder" if int(level) == 0 else f"step {int(level)}"


def _instant(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


# -- Today: the pooled mailbox -------------------------------------------------------------------


def today(store: Store, policy: Policy, now: datetime) -> dict[str, Any]:
    """The threads waiting for a team reply, soonest breach first, and the last weeks' waits."""
    from shared.rules.sla import time_left

    people = Directory(store)
    group = policy.group_mail
    threads = []
    # The board holds a document per waiting thread and nothing else: as many reads as rows.
    for key, line in store.query(BOARD):
        left = time_left(line, group, policy.calendar, now)
        told = [
            {
                "step": _level(t.get("level")),
                "to": [{"email": e, "name": people.name(e)} for e in t.get("recipients") or []],
                "meant_for": [m for m in t.get("meant_for") or [] if m],
                "not_before": t.get("not_before"),
                "kind": t.get("kind"),
            }
            for t in line.get("told") or []
        ]
        threads.append(
            {
                "key": key,
                "thread_id": line.get("thread_id"),
                "subject": line.get("subject") or "(no subject)",
                "customer": line.get("customer"),
                "customer_name": line.get("customer_name"),
                "account_id": line.get("account_id"),
                "account_name": line.get("account_name") or line.get("account_id"),
                "ta": line.get("ta"),
                "ta_name": people.name(line.get("ta")) if line.get("ta") else "the pooled team",
                "waiting_since": line.get("waiting_since"),
                "deadline_at": line.get("deadline_at"),
                "time_left_hours": None if left is None else round(left, 2),
                "breached": left is not None and left < 0,
                "sla_level": line.get("sla_level"),
                "reached": _level(line.get("sla_level")),
                "next_step": _level(line.get("next_sla_level")) if line.get("next_sla_at") else None,
                "next_step_at": line.get("next_sla_at"),
                "told": told,
            }
        )
    threads.sort(key=lambda t: (str(t["deadline_at"]), str(t["thread_id"])))
    weeks = mailbox_weeks(lambda week: store.get(VIEWS, MAILBOX_WEEK_PREFIX + week), now)
    return {
        "page": "today",
        "now": utc_text(now),
        "sla_hours": group.sla_hours,
        "sla_clock": group.sla_clock,
        "waiting": threads,
        "breached": sum(1 for t in threads if t["breached"]),
        "weeks": weeks,
    }


def mailbox_weeks(recorded: Callable[[str], Mapping[str, Any] | None], now: datetime) -> list[dict[str, Any]]:
    """The last ``WEEKS_SHOWN`` ISO weeks up to ``now``'s (``recorded(week)``: the week's
    document), oldest first: waits answered, the share inside the SLA, and the median and
    slowest wait in hours."""
    out = []
    for back in range(WEEKS_SHOWN - 1, -1, -1):
        week = iso_week((now - timedelta(weeks=back)).date())
        entry = recorded(week) or {}
        hours = sorted(float(h) for h in entry.get("hours") or [])
        answered = int(entry.get("answered") or 0)
        within = int(entry.get("within_sla") or 0)
        out.append(
            {
                "week": week,
                "answered": answered,
                "within_sla": within,
                "share_within_sla": round(within / answered, 3) if answered else None,
                "median_hours": round(statistics.median(hours), 1) if hours else None,
                "max_hours": round(hours[-1], 1) if hours else None,
            }
        )
    return out


# -- Who is out ----------------------------------------------------------------------------------


def who_is_out(store: Store, policy: Policy, now: datetime) -> dict[str, Any]:
    """Absences now and in the next 30 days with each TA's coverage plan, and the live plans
    still in draft (time off requested, not yet approved)."""
    horizon = now + OUT_HORIZON
    found = store.query(
        ABSENCES, Where("ends_at", ">", utc_text(now)), Where("starts_at", "<", utc_text(horizon))
    )
    absences = sorted(
        (doc for _, doc in found if doc.get("status") in ON_LEAVE),
        key=lambda a: (str(a.get("starts_at")), str(a.get("person")), str(a.get("id"))),
    )
    plans = {str(a["id"]): store.get(COVERAGE_PLANS, str(a["id"])) for a in absences}
    drafts = dict(
        store.query(COVERAGE_PLANS, Where("status", "==", "draft"), Where("end", ">", utc_text(now)))
    )
    people = Directory(store)
    names = _AccountNames(store)
    rows = []
    for absence in absences:
        plan = plans.get(str(absence["id"]))
        rows.append(
            {
                "absence_id": absence["id"],
                "person": absence.get("person"),
                "name": people.name(absence.get("person")),
                "role": people.role(absence.get("person")),
                "first_day": absence.get("start_date"),
                "last_day": absence.get("end_date"),
                "status": str(absence.get("status")).lower(),
                "now": str(absence.get("starts_at")) <= utc_text(now),
                "type": absence.get("type"),
                "plan": _plan(plan, people, names) if plan else None,
            }
        )
    shown = {r["absence_id"] for r in rows}
    later = [
        {
            "absence_id": plan_id,
            "ta": plan.get("ta"),
            "name": people.name(plan.get("ta")),
            "first_day": plan.get("first_day") or str(plan.get("start"))[:10],
            "last_day": plan.get("last_day") or str(plan.get("end"))[:10],
            "plan": _plan(plan, people, names),
        }
        for plan_id, plan in sorted(drafts.items(), key=lambda p: str(p[1].get("start")))
        if plan_id not in shown
    ]
    return {
        "page": "out",
        "now": utc_text(now),
        "until": utc_text(horizon),
        "absences": rows,
        "drafts_later": later,
        "drafts": sum(1 for r in rows if r["plan"] and r["plan"]["status"] == "draft") + len(later),
    }


class _AccountNames:
    """Account names from the books of the TAs asked about (one read per TA)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._books: dict[str, dict[str, Document]] = {}

    def name(self, ta: str | None, account_id: str) -> str:
        book = book_id(ta, account_id)
        if book not in self._books:
            self._books[book] = (self._store.get(VIEWS, book) or {}).get("accounts") or {}
        return str((self._books[book].get(account_id) or {}).get("name") or account_id)


def _plan(plan: Mapping[str, Any], people: Directory, names: _AccountNames) -> dict[str, Any]:
    ta = plan.get("ta")
    return {
        "status": plan.get("status"),
        "items": [
            {
                "account_id": item.get("account_id"),
                "account_name": names.name(ta, str(item.get("account_id"))),
                "reasons": list(item.get("reasons") or []),
                "cover": item.get("cover"),
                "cover_name": people.name(item.get("cover")),
            }
            for item in plan.get("items") or []
        ],
        "accounts_without_cover_needs": plan.get("accounts_without_cover_needs") or 0,
    }


# -- Accounts --------------------------------------------------------------------------------------


def accounts(store: Store, policy: Policy, now: datetime) -> dict[str, Any]:
    """Health category changes of the last 30 days, Lighthouse with its save plans, the
    renewal process, each TA's Top 3 and the seat alerts."""
    from shared.rules.top3 import top3

    health = store.get(VIEWS, HEALTH) or {}
    people = Directory(store)
    books = _books(store)
    today_ = now.date()
    since = utc_text(now - CHANGES_SHOWN)
    changes = [
        {**c, "day": str(c.get("at"))[:10]}
        for c in health_changes(store.get, health, since)
        if str(c.get("at")) <= utc_text(now)
    ]
    lines = [line for book in books.values() for line in (book.get("accounts") or {}).values()]
    lines.sort(key=lambda a: (str(a.get("name")), str(a.get("id"))))
    lighthouse = [
        {
            **_summary(a, people),
            "entered_at": a.get("lighthouse_entered_at"),
            "save_plan": a.get("save_plan"),
            "save_plan_owner_name": people.name((a.get("save_plan") or {}).get("owner"))
            if (a.get("save_plan") or {}).get("owner")
            else None,
        }
        for a in lines
        if a.get("lighthouse_active")
    ]
    window = policy.renewal.process_starts_days_before
    renewing = []
    for a in lines:
        renews = a.get("renewal_date")
        if (
            not renews
            or not today_.isoformat() <= str(renews) <= (today_ + timedelta(days=window)).isoformat()
        ):
            continue
        process = a.get("renewal_process") or {}
        started = process.get("started_at") if process.get("renewal_date") == renews else None
        renewing.append(
            {
                **_summary(a, people),
                "renewal_date": renews,
                "days_left": (date.fromisoformat(str(renews)) - today_).days,
                "process_started_at": started,
            }
        )
    renewing.sort(key=lambda r: (str(r["renewal_date"]), str(r["account_id"])))
    tops = []
    for book in sorted(books.values(), key=lambda b: people.name(b.get("ta"))):
        if not book.get("ta"):
            continue
        picks = top3((book.get("accounts") or {}).values(), policy.calendar, today_)
        tops.append({"ta": book["ta"], "name": people.name(book["ta"]), "top3": [p.as_dict() for p in picks]})
    seats = [
        {
            **_summary(a, people),
            "ae": a.get("ae"),
            "ae_name": people.name(a.get("ae")),
            "seats_used": a.get("seats_used"),
            "seats_licensed": a.get("seats_licensed"),
            "percents": (a.get("seat_alerts") or {}).get("percents") or [],
            "term": (a.get("seat_alerts") or {}).get("term"),
            "told_at": (a.get("seat_alerts") or {}).get("at"),
        }
        for a in lines
        if (a.get("seat_alerts") or {}).get("percents")
    ]
    return {
        "page": "accounts",
        "now": utc_text(now),
        "accounts": len(lines),
        "health_changes": changes,
        "health_days": health_days(health.get("days") or {}, today_),
        "lighthouse": lighthouse,
        "renewal_window_days": window,
        "renewing": renewing,
        "top3": tops,
        "seat_alerts": seats,
    }


def _summary(line: Mapping[str, Any], people: Directory) -> dict[str, Any]:
    return {
        "account_id": line.get("id"),
        "name": line.get("name") or line.get("id"),
        "ta": line.get("ta"),
        "ta_name": people.name(line.get("ta")) if line.get("ta") else "-",
        "health_category": line.get("health_category"),
        "health_score": line.get("health_score"),
        "arr": line.get("arr") or 0,
    }


def health_days(recorded: Mapping[str, Mapping[str, int]], today_: date) -> list[dict[str, Any]]:
    """The accounts per health category on each of the last ``HEALTH_DAYS_SHOWN`` days up to
    ``today_``, each day carrying the counts of the last recorded day on or before it (days
    before the first record are left out)."""
    known = sorted(recorded)
    out: list[dict[str, Any]] = []
    at = 0
    current: Mapping[str, int] | None = None
    for back in range(HEALTH_DAYS_SHOWN - 1, -1, -1):
        day = (today_ - timedelta(days=back)).isoformat()
        while at < len(known) and known[at] <= day:
            current = recorded[known[at]]
            at += 1
        if current is not None:  # the chart starts on the first day anything was recorded
            out.append({"day": day, **{c: int(current.get(c, 0)) for c in CATEGORIES}, "known": True})
    return out


# -- Actions -----------------------------------------------------------------------------------------


def actions(
    store: Store,
    policy: Policy,
    now: datetime,
    account: str | None = None,
    person: str | None = None,
    can_act: bool = False,
) -> dict[str, Any]:
    """The outbox's waiting and failed actions (held customer emails apart), each with its
    reason and the event that caused it, narrowed to an account or a person when asked;
    and the inputs refused in the last week."""
    pending = store.query(OUTBOX, Where("status", "==", "pending"))
    failed = store.query(OUTBOX, Where("status", "==", "failed"))
    refused = store.query(DEAD_LETTERS, Where("received_at", ">=", utc_text(now - REFUSED_SHOWN)))
    wanted = _matcher(account, person)
    rows = [action_row(i, d, now, can_act) for i, d in [*pending, *failed] if wanted(d)]
    held = [r for r in rows if r["status"] == "pending" and r["customer_email"]]
    waiting = [r for r in rows if r["status"] == "pending" and not r["customer_email"]]
    return {
        "page": "actions",
        "now": utc_text(now),
        "account": account or "",
        "person": person or "",
        "held": sorted(held, key=_when),
        "pending": sorted(waiting, key=_when),
        "failed": sorted((r for r in rows if r["status"] == "failed"), key=lambda r: (str(r["at"]), r["id"])),
        "refused": sorted(
            (dead_letter_row(i, d) for i, d in refused),
            key=lambda r: (str(r["received_at"]), r["id"]),
            reverse=True,
        ),
    }


def _when(row: Mapping[str, Any]) -> tuple[str, str]:
    return (str(row.get("not_before") or row.get("at") or ""), str(row["id"]))


def _matcher(account: str | None, person: str | None) -> Any:
    account = (account or "").strip().lower()
    person = (person or "").strip().lower()

    def wanted(doc: Mapping[str, Any]) -> bool:
        if account:
            ids = {str(doc.get("account_id") or "").lower(), str(doc.get("customer_account") or "").lower()}
            if not any(account in i for i in ids if i):
                return False
        if person:
            who = [*(doc.get("recipients") or []), *(doc.get("to") or []), *(doc.get("cc") or [])]
            if not any(person in str(p).lower() for p in who):
                return False
        return True

    return wanted


def action_row(
    action_id: str, doc: Mapping[str, Any], now: datetime, can_act: bool = False
) -> dict[str, Any]:
    """One action as the Actions page and ``taops outbox`` show it."""
    status = str(doc.get("status"))
    customer = bool(doc.get("customer_account") or doc.get("review_until"))
    return {
        "id": action_id,
        "kind": doc.get("kind"),
        "status": status,
        "at": doc.get("at"),
        "not_before": doc.get("not_before"),
        "recipients": list(doc.get("recipients") or []),
        "channel": doc.get("channel") if not doc.get("recipients") else None,
        "account_id": doc.get("account_id") or doc.get("customer_account"),
        "subject": doc.get("subject"),
        "reason": doc.get("reason"),
        "event_id": doc.get("event_id"),
        "cadence": doc.get("cadence"),
        "period": doc.get("period"),
        "customer_email": customer,
        "review_until": doc.get("review_until"),
        "in_review": bool(doc.get("review_until")) and str(doc.get("review_until")) > utc_text(now),
        "last_error": doc.get("last_error"),
        "failure": doc.get("failure"),
        "attempts": doc.get("attempts"),
        "retried_by": doc.get("retried_by"),
        "can_cancel": can_act and status in ("pending", "published"),
        "can_retry": can_act and status == "failed",
    }


def dead_letter_row(doc_id: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """One refused input: where it came from, when, and why."""
    return {
        "id": doc_id,
        "source": doc.get("source"),
        "function": doc.get("function"),
        "event_id": doc.get("event_id"),
        "received_at": doc.get("received_at"),
        "reason": doc.get("reason"),
        "raw_bytes": doc.get("raw_bytes"),
        "kept": doc.get("raw") is not None,
        "rerun_at": doc.get("rerun_at"),
        "rerun_outcome": doc.get("rerun_outcome"),
    }
