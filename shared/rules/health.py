"""Health categories from Vitally's 0-10 score, and the handbook's category change list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.models import HealthCategory, HealthChange
from shared.policy import Health


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
    """The account with its new score and category, the change record if the category
    moved, and a sentence saying what happened."""
    old = account.get("health_category")
    new = category_for(score, policy)
    updated = {**account, "health_score": score, "health_category": new.value}
    name = account.get("name", account.get("id"))
    if old == new.value:
        return updated, None, f"{name}: health score {score:g}, still {new.value}"
    change = HealthChange(
        account_id=account["id"],
        at=at,
        old_category=HealthCategory(old) if old else None,
        new_category=new,
        score=score,
        event_id=event_id,
    )
    return updated, change, f"{name}: health {old or 'unknown'} → {new.value} (score {score:g})"
