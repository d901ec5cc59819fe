"""Who may look at the operations view, and who may press its buttons.

Deployed, a person signs in with Google (Google Identity Services posts an ID token to
``/login``); every request then carries the token, in an HttpOnly cookie or as
``Authorization: Bearer``, and is admitted only when

- google-auth verifies it: Google's signature, issuer, expiry, and the audience is the
  configured OAuth client id (``TAOPS_DASHBOARD_CLIENT_ID``);
- Google verified the email, and its domain is one of the policy's ``company_domains``;
- the person is in taops' directory (``people``).

Anything else is refused (403) with a short reason. Buttons that change state need a
TA_MANAGER, TA_DIRECTOR or TS_VP, and a CSRF token derived from the session's own token
(an HMAC keyed by it), which a page from elsewhere cannot know.

Locally (``taops dashboard``, ``taops demo --serve``, ``taops dev``) the view is open to
requests from 127.0.0.1 only, acting as one person of the directory.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.dashboard.pages import ACTING_ROLES

if TYPE_CHECKING:
    import httpx

    from shared.policy import Policy
    from shared.store import Store

SESSION_COOKIE = "taops_session"
PEOPLE = "people"
ROLE_NAMES = {
    "TA": "TA",
    "AE": "AE",
    "CE": "CE",
    "IE": "IE",
    "TA_MANAGER": "TA manager",
    "TA_DIRECTOR": "TA director",
    "TS_VP": "TS VP",
}


class RefusedError(Exception):
    """Not admitted: ``reason`` is what the person is told (403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Viewer:
    email: str
    name: str
    role: str | None
    local: bool = False

    @property
    def can_act(self) -> bool:
        return self.role in ACTING_ROLES

    @property
    def role_name(self) -> str:
        return ROLE_NAMES.get(self.role or "", self.role or "not in the directory")

    def why_not(self) -> str | None:
        """Why the buttons are not for this person, or None."""
        if self.can_act:
            return None
        return f"only a TA manager, director or VP can cancel or retry ({self.email} is {self.role_name})"


class HttpxTransport:
    """google-auth's transport interface over httpx (so Google's certificate endpoint is
    fetched like every other vendor call, and mocked like one in tests). GET answers that
    say how long they may be cached (``Cache-Control: max-age``), as Google's certificates
    do, are kept that long: a page view does not fetch them again."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client
        self._cache: dict[str, tuple[float, _Response]] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        import httpx
        from google.auth import exceptions

        if method == "GET":
            with self._lock:
                kept = self._cache.get(url)
            if kept is not None and kept[0] > time.monotonic():
                return kept[1]
        try:
            answer = self._client.request(method, url, content=body, headers=headers, timeout=timeout or 10)
        except httpx.HTTPError as exc:
            raise exceptions.TransportError(f"{method} {url}: {exc}") from exc
        response = _Response(answer.status_code, dict(answer.headers), answer.content)
        age = _max_age(answer.headers.get("cache-control", ""))
        if method == "GET" and answer.status_code == 200 and age:
            with self._lock:
                self._cache[url] = (time.monotonic() + age, response)
        return response


def _max_age(cache_control: str) -> int:
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name.lower() == "max-age" and value.isdigit():
            return int(value)
    return 0


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str]
    data: bytes


_transport: HttpxTransport | None = None


def transport() -> HttpxTransport:
    """One transport per instance, over the instance's httpx client (built on first use)."""
    global _transport
    if _transport is None:
        from shared import clients

        _transport = HttpxTransport(clients.http())
    return _transport


def reset() -> None:
    """Forget the transport and its cached certificates (tests)."""
    global _transport
    _transport = None


def verify(token: str, client_id: str) -> dict[str, Any]:
    """The claims of a Google ID token issued to ``client_id``; ``RefusedError`` saying why
    it is not one (bad signature, expired, another audience, not Google's)."""
    from google.auth import exceptions
    from google.oauth2 import id_token

    try:
        claims = id_token.verify_oauth2_token(
            token, transport(), audience=client_id, clock_skew_in_seconds=10
        )
    except exceptions.TransportError as exc:
        raise RefusedError(f"Google's sign-in keys could not be fetched, try again: {exc}") from None
    except (ValueError, exceptions.GoogleAuthError) as exc:
        raise RefusedError(f"the sign-in token is not valid: {_first_line(exc)}") from None
    return dict(claims)


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or ["refused"])[0][:200]


def admit(claims: dict[str, Any], policy: Policy, store: Store) -> Viewer:
    """The person the verified ``claims`` name, if the company's and in the directory."""
    email = str(claims.get("email") or "").strip().lower()
    if not email:
        raise RefusedError("the sign-in token carries no email: sign in with your company Google account")
    if claims.get("email_verified") is not True:
        raise RefusedError(f"Google has not verified {email}")
    domains = [d.lower() for d in policy.group_mail.company_domains]
    if email.rpartition("@")[2] not in domains:
        raise RefusedError(
            f"{email} is not a {' or '.join(domains)} account: sign in with your company account"
        )
    person = store.get(PEOPLE, email)
    if person is None:
        raise RefusedError(f"{email} is not in taops' directory: ask a TA manager to add you to the book")
    return Viewer(email, str(person.get("name") or email), person.get("role"))


def local_viewer(store: Store, email: str | None) -> Viewer:
    """Who a local dashboard acts as: ``email``, else the directory's first TA manager."""
    from shared.store import Where

    if not email:
        found = store.query(PEOPLE, Where("role", "==", "TA_MANAGER"), limit=1)
        if not found:
            return Viewer("local", "local", None, local=True)
        email = found[0][0]
    person = store.get(PEOPLE, email.strip().lower()) or {}
    return Viewer(email.strip().lower(), str(person.get("name") or email), person.get("role"), local=True)


def csrf_token(secret: str) -> str:
    """The token a form of this session must carry: an HMAC keyed by the session's secret."""
    return hmac.new(secret.encode(), b"taops-dashboard-csrf", hashlib.sha256).hexdigest()[:40]


def csrf_ok(secret: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(secret), str(given))
