"""Vitally playbook webhooks ("Ping a webhook"): token check and a health-changed event.

Vitally does not sign these and does not publish their body (``../shared/vendors/README.md``):
a playbook sends ``{"match": {"account": {...}}}`` with traits flattened onto the account,
and taops also accepts a bare account object. The webhook is only a trigger: the health
handler re-reads the account from Vitally's REST API before acting, so the ids are kept
exactly as sent; an id over 255 characters, or an ``updatedAt`` with no UTC equivalent,
is refused naming the field. A ping that carries the account's seat traits also updates
its seats at once (an ``account.traits`` event, as the hourly sync makes), so a seat alert
to the AE does not wait for the sync.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.events import EventEnvelope, first_problem, stable_event_id, utc_checked
from shared.exceptions import ConfigurationError, PermanentError, TransientError

HEALTH_TOPIC = "health-changed"
HEALTH_EVENT_TYPE = "health.changed"
TOKEN_HEADER = "x-taops-token"
MAX_ID_CHARS = 255  # ids become document ids and entity keys; Vitally's are UUIDs


def token_matches(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; an unset secret refuses everything."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


class VitallyAccount(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    # Vitally's own (camelCase) field names.
    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    externalId: str | None = Field(default=None, max_length=MAX_ID_CHARS)
    name: str | None = None
    healthScore: float | None = Field(default=None, ge=0, le=10)
    updatedAt: datetime | None = None


def account_id_of(body: Any) -> str | None:
    account = _account(body) if isinstance(body, dict) else None
    return str(account.get("id")) if isinstance(account, dict) and account.get("id") else None


def _account(body: dict[str, Any]) -> Any:
    match = body.get("match")
    if isinstance(match, dict) and "account" in match:
        return match["account"]
    return body


# The book fields a playbook ping updates at once when it carries their traits: seats,
# whose alert to the AE should not wait for the hourly sync. The rest waits for the sync.
PING_FIELDS = ("seats_used", "seats_licensed")


def normalize(
    body: Any, received_at: datetime, trait_names: Mapping[str, str] | None = None
) -> list[EventEnvelope]:
    """One health-changed event for the account in a playbook body or a bare account;
    with the policy's trait names (``trait_names``: book field -> trait), also the
    ``account.traits`` event of the seat counts the body carries (``PING_FIELDS``)."""
    if not isinstance(body, dict):
        raise PermanentError("body: must be a JSON object")
    raw = _account(body)
    where = "match.account" if raw is not body else "account"
    try:
        account = VitallyAccount.model_validate(raw)
    except ValidationError as exc:
        raise PermanentError(first_problem(exc, where)) from None
    known = {"id", "externalId", "name", "healthScore", "updatedAt"}
    traits = {k: v for k, v in (account.model_extra or {}).items() if k not in known}
    if isinstance(raw, dict) and isinstance(raw.get("traits"), dict):
        traits = {**traits, **raw["traits"]}
        traits.pop("traits", None)
    version = account.updatedAt if account.updatedAt and account.updatedAt.tzinfo else None
    if version:
        utc_checked(version, f"{where}.updatedAt", str(account.updatedAt))
    # Without Vitally's own timestamp, an observation is told apart by the hour it arrived
    # in: Vitally recomputes the score hourly, so the same score within one hour is a retry
    # of the same ping, while the same score in a later hour is a new observation (a score
    # that went 3.4 -> 6.0 -> 3.4 must not have its return dropped as a duplicate).
    observed = version or received_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    payload = {
        "vitally_id": account.id,
        "external_id": account.externalId,
        "name": account.name,
        "health_score": account.healthScore,
        "traits": traits,
    }
    events = [
        EventEnvelope(
            source="vitally",
            type=HEALTH_EVENT_TYPE,
            event_id=stable_event_id("vitally", account.id, account.healthScore, observed),
            entity_key=f"vitally-account:{account.id}",
            source_version=version,
            occurred_at=version or received_at,
            received_at=received_at,
            payload=payload,
        )
    ]
    if trait_names and isinstance(raw, dict):
        from shared.sources.vitally_sync import observe, traits_event

        wanted = {f: name for f, name in trait_names.items() if f in PING_FIELDS}
        # A value that cannot be read is left to the sync, which reports it; the ping's
        # health score still counts.
        values, _unreadable = observe(raw, wanted, received_at)
        if values:
            events.append(
                traits_event(account.id, account.externalId, account.name, values, version, received_at)
            )
    return events


def rest_credentials() -> tuple[str, str] | None:
    """(base URL, API key) when Vitally's REST API is configured, else None."""
    import os

    key = os.environ.get("TAOPS_VITALLY_API_KEY")
    base = os.environ.get("TAOPS_VITALLY_BASE_URL", "https://rest.vitally.io")
    return (base.rstrip("/"), key) if key else None


def fetch_account(client: Any, base_url: str, api_key: str, account_id: str) -> dict[str, Any]:
    """``GET /resources/accounts/{id}`` with Basic auth (the key as user, empty password).

    ``PermanentError`` when Vitally does not know the account; ``TransientError`` for
    rate limits, 5xx and timeouts; ``ConfigurationError`` when Vitally refuses the key.
    """
    from shared.sources.http import json_object, send

    what = f"account {account_id}"
    url = f"{base_url}/resources/accounts/{quote(account_id, safe='')}"
    response = send("Vitally", what, lambda: client.get(url, auth=(api_key, "")))
    if response.status_code == 404:
        raise PermanentError(f"Vitally has no account {account_id}")
    return json_object("Vitally", what, response, credential="TAOPS_VITALLY_API_KEY")


def refreshed(event: EventEnvelope, client: Any) -> EventEnvelope:
    """The event with the score re-read from Vitally's REST API, when it is configured
    (a health event: a ping's seat counts are taken as sent, and the sync checks them)."""
    creds = rest_credentials()
    if creds is None or event.type != HEALTH_EVENT_TYPE:
        return event
    account = fetch_account(client, creds[0], creds[1], event.payload["vitally_id"])
    score = account.get("healthScore")
    payload = {**event.payload, "health_score": score, "score_source": "vitally-rest"}
    return event.model_copy(update={"payload": payload})


# -- the account listing (the vitally-sync job) ----------------------------------------------

ACCOUNTS_PAGE_MAX = 100  # Vitally's maximum (and default) page size


class VitallyBusyError(TransientError):
    """Vitally is rate limiting (429) or failing (5xx, a timeout): worth waiting for.
    ``retry_after`` is Vitally's own hint in seconds, when it gave a usable one."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds; None for an HTTP date, a negative or NaN."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def list_accounts(
    client: Any, base_url: str, api_key: str, cursor: str | None, limit: int = ACCOUNTS_PAGE_MAX
) -> dict[str, Any]:
    """One page of ``GET /resources/accounts`` (Basic auth, cursor pagination): the body
    ``{"results": [account, ...], "next": cursor | None}``; items that are not objects are
    left in ``results`` for the caller to report.

    ``VitallyBusyError`` for 429 (with its Retry-After), 5xx and transport failures;
    ``ConfigurationError`` when Vitally refuses the key (401/403) or has no such API at
    the base URL (404); ``PermanentError`` for another 4xx (a cursor Vitally no longer
    accepts answers 400); ``TransientError`` for a 200 not in the documented shape.
    """
    import httpx

    from shared.sources.http import json_object, refused_credentials

    params: dict[str, str | int] = {"limit": min(max(limit, 1), ACCOUNTS_PAGE_MAX)}
    if cursor:
        params["from"] = cursor
    what = "the account list" + (" (resumed from a cursor)" if cursor else "")
    try:
        response = client.get(f"{base_url}/resources/accounts", params=params, auth=(api_key, ""))
    except httpx.HTTPError as exc:
        raise VitallyBusyError(f"Vitally: {exc.__class__.__name__} on {what}") from exc
    status = response.status_code
    if status == 429 or status >= 500:
        hint = retry_after(response.headers.get("Retry-After")) if status == 429 else None
        raise VitallyBusyError(f"Vitally answered {status} for {what}", hint)
    if status in (401, 403):
        raise refused_credentials("Vitally", what, status, "TAOPS_VITALLY_API_KEY")
    if status == 404:
        raise ConfigurationError(
            "vitally-base-url",
            f"Vitally answered 404 for {what}: check TAOPS_VITALLY_BASE_URL ({base_url})",
        )
    body = json_object("Vitally", what, response, credential="TAOPS_VITALLY_API_KEY")
    results, following = body.get("results"), body.get("next")
    if not isinstance(results, list) or not (following is None or isinstance(following, str)):
        raise TransientError(f"Vitally answered {what} with a body that is not a page of accounts")
    return {"results": results, "next": following or None}
