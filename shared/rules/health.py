"""Health categories from Vitally's 0-10 score, the handbook's category change list, and
the debounce: a category is believed once it has held ``health.debounce_hours``.

Every category change is recorded at once. What the team does about one (Lighthouse, a
save plan, an exit suggestion: ``shared.rules.lighthouse``) waits until the new category
has held: Vitally recomputes hourly, and a score that flaps across a cut-off and back
within the debounce window must not page anybody. The account keeps the category taops
last reacted to (``health_reacted``); a flap back to it cancels the pending reaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from shared.models import HealthCategory, HealthChange, Timer, timer_id, utc_text
from shared.policy import Health

HEALTH_TIMER = "health"
HEALTH_JOB = "health-check"


def category_for(score: float, policy: Health) -> HealthCategory:
    """Red below ``red_below``, yellow below ``yellow_below``, green otherwise."""
    if score < policy.red_below:
        return HealthCategory.RED
    if score < policy.yellow_below:
        return HealthCategory.YELLOW
    return HealthCategory.GREEN


def apply_score(
    account: dict[str, Any], score: float, policy: Health, at: datetime, event_id: str
) -> tuple[dict[str, Any], HealthChange | None, str]:
    """The account with its new score, category and history, the change record if the
    category moved, and a sentence saying what happened."""
    old = account.get("health_category")
    new = category_for(score, policy)
    history = list(account.get("health_history") or [])
    if not history or history[-1].get("score") != score:
        history.append({"at": utc_text(at), "score": score, "category": new.value})
    updated = {**account, "health_score": score, "health_category": new.value}
    updated["health_history"] = history[-policy.history_kept :]
    if updated.get("health_reacted") is None:
        # The first score taops sees: the category the book had is where it starts, so
        # an account imported red is not "entering" red (its Lighthouse state is the book's).
        updated["health_reacted"] = {"category": old, "since": None}
    name = account.get("name", account.get("id"))
    if old == new.value:
        return updated, None, f"{name}: health score {score:g}, still {new.value}"
    updated["health_since"] = utc_text(at)
    change = HealthChange(
        account_id=account["id"],
        at=at,
        old_category=HealthCategory(old) if old else None,
        new_category=new,
        score=score,
        event_id=event_id,
    )
    return updated, change, f"{name}: health {old or 'unknown'} → {new.value} (score {score:g})"


def reacted_category(account: dict[str, Any]) -> str | None:
    return (account.get("health_reacted") or {}).get("category")


def awaits_reaction(account: dict[str, Any]) -> bool:
    """The current category is not the one taops last reacted to."""
    return account.get("health_category") is not None and account.get("health_category") != reacted_category(
        account
    )


def settles_at(account: dict[str, Any], policy: Health) -> datetime | None:
    """When the current category will have held long enough to react to (None: it began
    before taops kept track, so it is believed already)."""
    since = account.get("health_since")
    if not since:
        return None
    return datetime.fromisoformat(str(since)) + timedelta(hours=policy.debounce_hours)


def has_held(account: dict[str, Any], policy: Health, now: datetime) -> bool:
    settles = settles_at(account, policy)
    return settles is None or settles <= now


def timer_key(account_id: str) -> str:
    """One debounce timer per account: scheduling again replaces it."""
    return f"{HEALTH_TIMER}:{account_id}"


def debounce_timer_id(account_id: str) -> str:
    return timer_id(timer_key(account_id))


def debounce_timer(account: dict[str, Any], policy: Health) -> Timer:
    """The timer that re-decides once the current category has held."""
    settles = settles_at(account, policy)
    assert settles is not None
    return Timer(
        key=timer_key(str(account["id"])),
        kind=HEALTH_TIMER,
        job=HEALTH_JOB,
        due_at=settles,
        subject=f"accounts/{account['id']}",
        data={"category": account.get("health_category"), "since": account.get("health_since")},
    )
