"""What the reviews go through: the MBR's 5/15/5 agenda and an account's one-line state.

The handbook's MBR agenda, 30 minutes with the TA, the TA Director and the TS VP:

1. (5 minutes) customer health metrics: the TA's accounts by health category, and the
   category changes since the last MBR (the health change log);
2. (15 minutes) the Top 3 accounts, 5 minutes each: ARR, renewal date and its fiscal
   quarter, health, expansion opportunity, open Lighthouse plan;
3. (5 minutes) asks for the business: help to remove blockers and speed up the Account
   Success Plan goals.

The agenda is data (``mbr_agenda``, carried on the reminder) and text (``render``, the
message and the calendar event's description).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from shared.policy import MBR_MINUTES, CalendarPolicy
from shared.rules.fiscal import fiscal_quarter
from shared.rules.top3 import Pick, money, renewal_of

HEALTH_MINUTES = 5
PER_ACCOUNT_MINUTES = 5
ASKS_MINUTES = 5
CATEGORIES = ("green", "yellow", "red")


def _health(account: Mapping[str, Any]) -> str:
    category = account.get("health_category")
    if not category:
        return "not scored"
    score = account.get("health_score")
    return f"{category} ({float(score):.1f})" if score is not None else str(category)


def _lighthouse(account: Mapping[str, Any]) -> str:
    if not account.get("lighthouse_active"):
        return "none"
    plan = account.get("save_plan") or {}
    since = str(account.get("lighthouse_entered_at") or plan.get("opened_at") or "")[:10]
    due = plan.get("due_date")
    text = f"open since {since}" if since else "open"
    return f"{text}, save plan due {due}" if due else text


def _renewal(account: Mapping[str, Any], calendar: CalendarPolicy) -> str:
    renews = renewal_of(account)
    return f"renews {renews} ({fiscal_quarter(renews, calendar).label})" if renews else "no renewal date"


def facts(account: Mapping[str, Any], calendar: CalendarPolicy) -> dict[str, Any]:
    """What a review looks at for one account."""
    renews = renewal_of(account)
    return {
        "arr": float(account.get("arr") or 0),
        "renewal_date": renews.isoformat() if renews else None,
        "renewal_quarter": fiscal_quarter(renews, calendar).label if renews else None,
        "health_category": account.get("health_category"),
        "health_score": account.get("health_score"),
        "expansion_opportunity": bool(account.get("expansion_opportunity")),
        "lighthouse": _lighthouse(account),
    }


def state_line(account: Mapping[str, Any], calendar: CalendarPolicy, ta_name: str | None = None) -> str:
    """One line a leader can scan: ``Acme Corp (TA Ana Ruiz): ARR $420,000; renews ...``."""
    who = f" (TA {ta_name})" if ta_name else ""
    expansion = (
        "expansion opportunity" if account.get("expansion_opportunity") else "no expansion opportunity"
    )
    return (
        f"{account.get('name') or account['id']}{who}: ARR {money(float(account.get('arr') or 0))}; "
        f"{_renewal(account, calendar)}; health {_health(account)}; {expansion}; "
        f"Lighthouse plan {_lighthouse(account)}"
    )


def mbr_agenda(
    accounts: Iterable[Mapping[str, Any]],
    picks: list[Pick],
    changes: Iterable[Mapping[str, Any]],
    since: date,
    calendar: CalendarPolicy,
) -> dict[str, Any]:
    """The agenda of one TA's MBR: ``accounts`` are theirs, ``picks`` their Top 3,
    ``changes`` the health category changes of those accounts since ``since``."""
    book = {str(a["id"]): a for a in accounts}
    by_category: dict[str, list[str]] = {c: [] for c in (*CATEGORIES, "not scored")}
    for account in sorted(book.values(), key=lambda a: str(a.get("name") or a["id"])):
        category = str(account.get("health_category") or "not scored")
        by_category.setdefault(category, []).append(str(account.get("name") or account["id"]))
    moves = [
        {
            "account_id": c["account_id"],
            "name": str((book.get(str(c["account_id"])) or {}).get("name") or c["account_id"]),
            "at": str(c["at"]),
            "old_category": c.get("old_category"),
            "new_category": c.get("new_category"),
        }
        for c in sorted(changes, key=lambda c: (str(c["at"]), str(c["account_id"])))
    ]
    top = [
        {**pick.as_dict(), **facts(book[pick.account_id], calendar), "minutes": PER_ACCOUNT_MINUTES}
        for pick in picks
    ]
    return {
        "minutes": MBR_MINUTES,
        "health": {
            "minutes": HEALTH_MINUTES,
            "by_category": {k: v for k, v in by_category.items() if v or k in CATEGORIES},
            "changes_since": since.isoformat(),
            "changes": moves,
        },
        "top3": {"minutes": PER_ACCOUNT_MINUTES * 3, "accounts": top},
        "asks": {"minutes": ASKS_MINUTES, "prompts": _asks(book, picks, calendar)},
    }


def _asks(book: Mapping[str, Mapping[str, Any]], picks: list[Pick], calendar: CalendarPolicy) -> list[str]:
    """Prompts for the asks, from what the accounts show: saves in progress, renewals."""
    prompts = ["What help removes a blocker or speeds up an Account Success Plan goal?"]
    saving = sorted(str(a.get("name") or a["id"]) for a in book.values() if a.get("lighthouse_active"))
    if saving:
        prompts.append(f"Save plans in Lighthouse: {', '.join(saving)}: what would help them?")
    renewing = [p.name for p in picks if "renewing_this_quarter" in p.criteria]
    if renewing:
        prompts.append(f"Renewing this quarter: {', '.join(renewing)}: anything the business should know?")
    return prompts


def _at(text: str) -> str:
    return f"{datetime.fromisoformat(text):%Y-%m-%d}"


def render(agenda: Mapping[str, Any]) -> str:
    """The agenda as plain text (Slack shows it as mrkdwn; email as is)."""
    health = agenda["health"]
    lines = [f"Agenda ({agenda['minutes']} minutes)", ""]
    lines.append(f"1. Customer health metrics ({health['minutes']} min)")
    for category, names in health["by_category"].items():
        lines.append(f"   {category}: {len(names)}" + (f" ({', '.join(names)})" if names else ""))
    if health["changes"]:
        lines.append(f"   Category changes since {health['changes_since']}:")
        lines += [
            f"   - {c['name']}: {c['old_category'] or 'none'} → {c['new_category']} on {_at(c['at'])}"
            for c in health["changes"]
        ]
    else:
        lines.append(f"   No category changes since {health['changes_since']}.")
    top = agenda["top3"]
    lines += ["", f"2. Top 3 accounts ({top['minutes']} min, {PER_ACCOUNT_MINUTES} each)"]
    if not top["accounts"]:
        lines.append("   No accounts in your book.")
    for n, item in enumerate(top["accounts"], 1):
        renews = (
            f"renews {item['renewal_date']} ({item['renewal_quarter']})"
            if item["renewal_date"]
            else "no renewal date"
        )
        health_text = item["health_category"] or "not scored"
        if item["health_category"] and item["health_score"] is not None:
            health_text += f" ({float(item['health_score']):.1f})"
        lines += [
            f"   {n}. {item['name']}: ARR {money(item['arr'])}; {renews}; health {health_text}; "
            f"expansion opportunity {'yes' if item['expansion_opportunity'] else 'no'}; "
            f"Lighthouse plan {item['lighthouse']}",
            f"      Why: {item['because']}",
        ]
    asks = agenda["asks"]
    lines += ["", f"3. Asks for the business ({asks['minutes']} min)"]
    lines += [f"   - {prompt}" for prompt in asks["prompts"]]
    return "\n".join(lines)
