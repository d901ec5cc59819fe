"""The operations view's answers in the terminal, for the engineers who run taops:
``taops show plan``, ``taops show account``, ``taops dead-letters`` (and re-running one
after a fix). Each builds plain data (``--json`` prints it) and a Rich table of it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.dashboard.pages import (
    ABSENCES,
    COVERAGE_PLANS,
    DEAD_LETTERS,
    OUTBOX,
    Directory,
    action_row,
    dead_letter_row,
)
from shared.models import utc_text
from shared.policy import Policy
from shared.store import Store, Where

ACCOUNTS = "accounts"
MAIL_THREADS = "mail_threads"
HEALTH_CHANGES = "health_changes"
SHOWN_ACTIONS = 25


class NotFoundError(LookupError):
    """What was asked for is not in the store."""


def _by_time(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (str(r.get("not_before") or r.get("at") or ""), str(r["id"])))


def plan(store: Store, absence_id: str, now: datetime) -> dict[str, Any]:
    """An absence, its coverage plan (each account, why, who covers) and the actions about it."""
    absence = store.get(ABSENCES, absence_id)
    stored = store.get(COVERAGE_PLANS, absence_id)
    if absence is None and stored is None:
        raise NotFoundError(f"no absence or coverage plan {absence_id!r}")
    people = Directory(store)
    actions = [action_row(i, d, now) for i, d in store.query(OUTBOX, Where("absence_id", "==", absence_id))]
    who = (absence or {}).get("person") or (stored or {}).get("ta")
    return {
        "absence_id": absence_id,
        "person": who,
        "name": people.name(who),
        "absence": absence,
        "plan": stored,
        "items": [
            {**item, "cover_name": people.name(item.get("cover"))}
            for item in (stored or {}).get("items") or []
        ],
        "actions": _by_time(actions),
    }


def account(store: Store, policy: Policy, account_id: str, now: datetime) -> dict[str, Any]:
    """An account: its team, health and its history, renewal, Lighthouse, seats, the threads
    waiting for a reply, its category changes and the latest actions about it."""
    from shared.rules.sla import time_left

    doc = store.get(ACCOUNTS, account_id)
    if doc is None:
        raise NotFoundError(f"no account {account_id!r} in the book")
    people = Directory(store)
    waits = []
    for key, thread in store.query(
        MAIL_THREADS, Where("account_id", "==", account_id), Where("waiting", "==", True)
    ):
        left = time_left(thread, policy.group_mail, policy.calendar, now)
        waits.append(
            {
                "thread": key,
                "subject": thread.get("subject"),
                "customer": thread.get("customer_address"),
                "waiting_since": thread.get("waiting_since"),
                "deadline_at": thread.get("deadline_at"),
                "time_left_hours": None if left is None else round(left, 2),
                "sla_level": thread.get("sla_level"),
            }
        )
    changes = sorted(
        (d for _, d in store.query(HEALTH_CHANGES, Where("account_id", "==", account_id))),
        key=lambda c: str(c.get("at")),
        reverse=True,
    )
    actions = _by_time(
        [action_row(i, d, now) for i, d in store.query(OUTBOX, Where("account_id", "==", account_id))]
    )
    team = {role: doc.get(role) for role in ("ta", "ae", "ce", "ie")}
    return {
        "account": doc,
        "team": {role: {"email": e, "name": people.name(e)} if e else None for role, e in team.items()},
        "waiting_threads": sorted(waits, key=lambda w: str(w["deadline_at"])),
        "health_changes": changes,
        "actions": actions[-SHOWN_ACTIONS:],
        "actions_total": len(actions),
    }


def dead_letters(store: Store, since: datetime) -> list[dict[str, Any]]:
    """What was refused since ``since``, newest first (one range query)."""
    found = store.query(DEAD_LETTERS, Where("received_at", ">=", utc_text(since)))
    rows = [dead_letter_row(i, d) for i, d in found]
    return sorted(rows, key=lambda r: (str(r["received_at"]), r["id"]), reverse=True)


def rerun(
    store: Store, policy: Policy, doc_id: str, now: datetime, run: Callable[[Any], Any]
) -> dict[str, Any]:
    """Run a refused input again, after a fix (a person added to the book, a policy
    corrected): a kept event goes through the dispatcher as it was (its id unchanged, so
    one applied since is a duplicate); a kept vendor body is normalised as its edge would
    and each event dispatched. ``run(event)`` dispatches one event and returns its
    ``ProcessResult``. The outcome is recorded on the dead letter. ``NotFoundError`` when
    there is no such dead letter; ``ValueError`` saying why one cannot be re-run."""
    from shared.events import EventEnvelope
    from shared.exceptions import PermanentError
    from shared.replay import SOURCES, Line, check_line

    doc = store.get(DEAD_LETTERS, doc_id)
    if doc is None:
        raise NotFoundError(f"no dead letter {doc_id!r}")
    raw = doc.get("raw")
    if raw is None:
        raise ValueError("its body was not kept (the request was not authenticated): nothing to re-run")
    if doc.get("raw_truncated"):
        raise ValueError("only part of its body was kept: it cannot be re-run")
    events: list[EventEnvelope]
    try:
        events = [EventEnvelope.from_json(raw)]
    except PermanentError:
        source = str(doc.get("source"))
        if source not in SOURCES:
            raise ValueError(f"a {source} input that is not a taops event cannot be re-run here") from None
        try:
            payload: Any = raw if source == "salesforce" and raw.lstrip().startswith("<") else json.loads(raw)
            events = check_line(Line(0, now, source, payload), policy)
        except (ValueError, PermanentError) as exc:
            reason = getattr(exc, "reason", None) or str(exc)
            raise ValueError(f"its body is still refused: {reason}") from None
    outcomes = []
    for event in events:
        result = run(event)
        outcomes.append(
            {"event_id": event.event_id, "outcome": result.outcome.value, "reason": result.reason or None}
        )
    summary = ", ".join(f"{o['outcome']}" + (f" ({o['reason']})" if o["reason"] else "") for o in outcomes)
    store.put(
        DEAD_LETTERS, doc_id, {**doc, "rerun_at": utc_text(now), "rerun_outcome": summary or "no event"}
    )
    return {"dead_letter": doc_id, "events": outcomes}


# -- printing ---------------------------------------------------------------------------------


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def print_plan(data: dict[str, Any]) -> None:
    out = _console()
    absence, stored = data["absence"] or {}, data["plan"] or {}
    first = absence.get("start_date") or stored.get("first_day")
    last = absence.get("end_date") or stored.get("last_day")
    status = str(absence.get("status", "?")).lower()
    out.print(
        f"[bold]{data['name']}[/] ({data['person']}): {first} to {last}, time off {status}; "
        f"plan {stored.get('status', 'none')}"
    )
    table = Table(title=f"coverage plan {data['absence_id']}")
    for column in ("account", "why", "cover"):
        table.add_column(column)
    for item in data["items"]:
        table.add_row(
            item["account_id"],
            ", ".join(item.get("reasons") or []),
            f"{item['cover_name']} ({item['cover']})",
        )
    out.print(table)
    if stored.get("accounts_without_cover_needs"):
        out.print(f"{stored['accounts_without_cover_needs']} other account(s) need no cover")
    print_actions(out, data["actions"], "actions about it")


def print_actions(out: Console, rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for column in ("when", "status", "kind", "to", "reason"):
        table.add_column(column, overflow="fold")
    for row in rows:
        when = f"not before {row['not_before']}" if row.get("not_before") else str(row.get("at"))
        to = ", ".join(row["recipients"]) or str(row.get("channel") or "-")
        table.add_row(when, row["status"], str(row["kind"]), to, str(row.get("reason")))
    out.print(table)


def print_account(data: dict[str, Any]) -> None:
    out = _console()
    doc = data["account"]
    out.print(
        f"[bold]{doc.get('name')}[/] ({doc.get('id')}): {doc.get('segment') or '-'}, "
        f"ARR ${float(doc.get('arr') or 0):,.0f}"
    )
    team = ", ".join(f"{role.upper()} {who['name']}" for role, who in data["team"].items() if who)
    out.print(f"team: {team or 'none'}")
    out.print(
        f"health: {doc.get('health_category') or '-'} ({doc.get('health_score')}) "
        f"since {doc.get('health_since') or '-'}"
        + (
            f"; in Lighthouse since {doc.get('lighthouse_entered_at')}"
            if doc.get("lighthouse_active")
            else ""
        )
    )
    if doc.get("save_plan"):
        out.print(f"save plan: {json.dumps(doc['save_plan'], sort_keys=True)}")
    process = doc.get("renewal_process") or {}
    out.print(
        f"renewal: {doc.get('renewal_date') or '-'} ({doc.get('renewal_stage') or 'no stage'})"
        + (f"; renewal process started {process.get('started_at')}" if process else "")
    )
    out.print(
        f"seats: {doc.get('seats_used')} of {doc.get('seats_licensed')}; "
        f"last contact {doc.get('last_contact') or '-'}"
    )
    history = doc.get("health_history") or []
    if history:
        out.print(
            "health history: "
            + ", ".join(f"{h['at'][:16]} {h['category']} {h['score']}" for h in history[-6:])
        )
    if data["health_changes"]:
        out.print(
            "category changes: "
            + ", ".join(
                f"{c['at'][:10]} {c.get('old_category')}→{c.get('new_category')}"
                for c in data["health_changes"][:6]
            )
        )
    waits = Table(title="threads waiting for a team reply")
    for column in ("deadline", "left (h)", "step", "customer", "subject"):
        waits.add_column(column)
    for w in data["waiting_threads"]:
        waits.add_row(
            str(w["deadline_at"]),
            str(w["time_left_hours"]),
            str(w["sla_level"]),
            str(w["customer"]),
            str(w["subject"]),
        )
    out.print(waits)
    shown = len(data["actions"])
    print_actions(out, data["actions"], f"actions about it ({shown} latest of {data['actions_total']})")


def print_dead_letters(rows: list[dict[str, Any]], since: datetime) -> None:
    out = _console()
    table = Table(title=f"refused since {utc_text(since)}")
    for column in ("received", "source", "function", "reason", "id"):
        table.add_column(column, overflow="fold")
    for row in rows:
        reason = str(row["reason"]) + (
            f" [dim](re-run: {row['rerun_outcome']})[/]" if row.get("rerun_outcome") else ""
        )
        table.add_row(str(row["received_at"]), str(row["source"]), str(row["function"]), reason, row["id"])
    out.print(table)
    out.print(f"{len(rows)} refused; re-run one after a fix: taops dead-letters --rerun ID")


def document_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)
