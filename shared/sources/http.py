"""How taops reads a vendor's HTTP answer: one place decides retry or give up.

- a network error, a timeout, 429 or a 5xx: ``TransientError`` (retry with backoff);
- 401/403: ``TransientError`` too, since fixing the secret makes the retry work, and the
  dead-letter topic catches it if nobody does;
- any other non-200: ``PermanentError``; a 200 whose body is not a JSON object:
  ``TransientError`` (a vendor hiccup more often than a contract change).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from shared.exceptions import PermanentError, TransientError

if TYPE_CHECKING:
    import httpx


def send(vendor: str, what: str, call: Callable[[], httpx.Response]) -> httpx.Response:
    """Make the request; a transport failure becomes ``TransientError``."""
    import httpx  # loaded on first call, not at cold start

    try:
        return call()
    except httpx.HTTPError as exc:
        raise TransientError(f"{vendor}: {exc.__class__.__name__} on {what}") from exc


def json_object(vendor: str, what: str, response: httpx.Response) -> dict[str, Any]:
    """The 200 answer's JSON object, or the error the status calls for."""
    status = response.status_code
    if status in (401, 403):
        raise TransientError(f"{vendor} refused our credentials for {what} ({status})")
    if status == 429 or status >= 500:
        raise TransientError(f"{vendor} answered {status} for {what}")
    if status != 200:
        raise PermanentError(f"{vendor} answered {status} for {what}")
    try:
        body = response.json()
    except ValueError:
        raise TransientError(f"{vendor} answered {what} with a body that is not JSON") from None
    if not isinstance(body, dict):
        raise TransientError(f"{vendor} answered {what} with an unexpected body")
    return body
