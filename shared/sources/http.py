"""How taops reads a vendor's HTTP answer: one place decides retry or give up.

- a network error, a timeout, 429 or a 5xx: ``TransientError`` (retry with backoff);
- 401/403: ``ConfigurationError`` (code ``<vendor>-credentials``): our key or token is
  wrong or lacks a scope, and no retry helps until an operator fixes it; except Google's
  403 for a rate limit (reason ``rateLimitExceeded`` / ``userRateLimitExceeded``), which
  is transient;
- any other non-200: ``PermanentError``; a 200 whose body is not a JSON object:
  ``TransientError`` (a vendor hiccup more often than a contract change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.exceptions import ConfigurationError, PermanentError, TransientError

if TYPE_CHECKING:
    import httpx


def send(vendor: str, what: str, call: Callable[[], httpx.Response]) -> httpx.Response:
    """Make the request; a transport failure becomes ``TransientError``."""
    import httpx  # loaded on first call, not at cold start

    try:
        return call()
    except httpx.HTTPError as exc:
        raise TransientError(f"{vendor}: {exc.__class__.__name__} on {what}") from exc


# Google APIs answer 403, not 429, when a quota per minute runs out.
GOOGLE_RATE_LIMITS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


def google_rate_limited(response: httpx.Response) -> bool:
    """A Google 403 whose ``error.errors[].reason`` says a rate limit, not a permission."""
    if response.status_code != 403:
        return False
    try:
        errors = response.json()["error"]["errors"]
        return any(isinstance(e, dict) and e.get("reason") in GOOGLE_RATE_LIMITS for e in errors)
    except (ValueError, TypeError, KeyError):
        return False


def refused_credentials(vendor: str, what: str, status: int, credential: str | None) -> ConfigurationError:
    fix = f"check {credential}" if credential else f"check taops' {vendor} credentials"
    return ConfigurationError(
        code=f"{vendor.lower()}-credentials",
        reason=f"{vendor} refused our credentials for {what} ({status}): {fix} and its scopes",
    )


def json_object(
    vendor: str, what: str, response: httpx.Response, credential: str | None = None
) -> dict[str, Any]:
    """The 200 answer's JSON object, or the error the status calls for (see above);
    ``credential`` names the setting an operator fixes after a 401/403."""
    status = response.status_code
    if status in (401, 403) and not google_rate_limited(response):
        raise refused_credentials(vendor, what, status, credential)
    if status in (403, 429) or status >= 500:
        raise TransientError(f"{vendor} answered {status} for {what}")
    if status != 200:
        raise PermanentError(f"{vendor} answered {status} for {what}")
    try:
        body = response.json()
    except ValueError:
        raise TransientError(f"{vendor} answered {what} with a body that is not a JSON object") from None
    if not isinstance(body, dict):
        raise TransientError(f"{vendor} answered {what} with a body that is not a JSON object")
    return body
