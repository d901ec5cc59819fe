"""The operations view's HTTP handler, shared by the deployed ``dashboard`` function and
the local server (``taops dashboard``, ``taops demo --serve``, ``taops dev``).

Routes: ``/`` (Today), ``/out`` (Who is out), ``/accounts``, ``/actions`` (``?account=``,
``?person=``), each as HTML or, with ``?format=json``, as JSON; ``/style.css``;
``/login`` (Google Identity Services posts the ID token here) and ``/logout``;
``POST /actions/{id}/cancel`` (``reason``) and ``POST /actions/{id}/retry`` (``note``),
each with the page's ``csrf`` field. See ``shared.dashboard.auth`` for who is admitted.
Each page logs how many documents it read.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from shared.dashboard import auth, charts, pages
from shared.logs import log
from shared.models import utc_text

if TYPE_CHECKING:
    import flask
    import jinja2

    from shared.bootstrap import Context

HERE = Path(__file__).parent
CLIENT_ID_ENV = "TAOPS_DASHBOARD_CLIENT_ID"
LOCAL_ENV = "TAOPS_DASHBOARD_LOCAL"
AS_ENV = "TAOPS_DASHBOARD_AS"
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})
TITLES = {"today": "Today", "out": "Who is out", "accounts": "Accounts", "actions": "Actions"}
ROUTES = {"/": "today", "/out": "out", "/accounts": "accounts", "/actions": "actions"}
# Google Identity Services' script, button frame and styles are the only outside resources.
GSI = "https://accounts.google.com/gsi/"
CSP = (
    "default-src 'self'; img-src 'self' data:; "
    f"script-src {GSI}client; frame-src {GSI}; connect-src 'self' {GSI}; "
    f"style-src 'self' {GSI}style; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
LOCAL_SECRET = secrets.token_hex(32)  # a local server is one process: its forms' key


@dataclass(frozen=True)
class Settings:
    """How the view admits people: Google sign-in against ``client_id``, or ``local`` (open
    to 127.0.0.1 only, acting as ``acting_as``)."""

    client_id: str | None = None
    local: bool = False
    acting_as: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            client_id=os.environ.get(CLIENT_ID_ENV) or None,
            local=os.environ.get(LOCAL_ENV) == "1",
            acting_as=os.environ.get(AS_ENV) or None,
        )


@cache
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, hours=_hours, money=_money, reason=_reason)
    return env


def _when(value: Any) -> str:
    """``2026-12-15T10:00:00Z`` → ``Tue 15 Dec 10:00 UTC``."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    return f"{moment:%a} {moment.day} {moment:%b %H:%M} UTC" if moment.tzinfo else str(value)


def _hours(value: Any) -> str:
    minutes = round(abs(float(value)) * 60)
    return f"{minutes // 60}h{minutes % 60:02d}"


def _money(value: Any) -> str:
    return f"${float(value or 0):,.0f}"


_REASONS = {
    "renewing": "renews during the absence",
    "lighthouse": "Lighthouse save plan",
    "slack_active_with_tickets": "active on Slack with open tickets",
}


def _reason(code: Any) -> str:
    return _REASONS.get(str(code), str(code))


def _response(
    body: str | bytes, status: int = 200, content_type: str = "text/html; charset=utf-8"
) -> flask.Response:
    import flask

    response = flask.Response(body, status=status, content_type=content_type)
    response.headers.update(
        {
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        }
    )
    return response


def _json(data: Any, status: int = 200) -> flask.Response:
    return _response(json.dumps(data, sort_keys=True, default=str), status, "application/json")


def _wants_json(request: flask.Request) -> bool:
    return request.args.get("format") == "json"


def _redirect(location: str) -> flask.Response:
    response = _response("", 303)
    response.headers["Location"] = location
    return response


def _refused(request: flask.Request, settings: Settings, reason: str, status: int = 403) -> flask.Response:
    log("WARNING", "dashboard: refused", reason=reason, path=request.path)
    if _wants_json(request) or (request.method == "POST" and not request.form):
        return _json({"error": reason}, status)
    html = (
        environment()
        .get_template("refused.html")
        .render(
            title="Sign in",
            heading="Sign in to taops" if settings.client_id and status == 403 else "Not allowed",
            reason=reason,
            client_id=settings.client_id if not settings.local else None,
            login_uri=_origin(request) + "/login",
            base="",
            page=None,
            viewer=None,
            now=None,
            notice=None,
            notice_ok=False,
            query=[],
        )
    )
    return _response(html, status)


def _origin(request: flask.Request) -> str:
    """The page's origin as the browser sees it: Cloud Run ends TLS in front of the
    function and says so in ``X-Forwarded-Proto``."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip() or "https"
    return f"{scheme}://{request.host}"


def _session(request: flask.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.cookies.get(auth.SESSION_COOKIE) or None


def identify(request: flask.Request, ctx: Context, settings: Settings) -> tuple[auth.Viewer, str]:
    """Who is asking, and the secret their forms' CSRF token is keyed by; ``RefusedError``."""
    if settings.local:
        if request.remote_addr not in LOOPBACK:
            raise auth.RefusedError("this local dashboard answers 127.0.0.1 only")
        return auth.local_viewer(ctx.store, settings.acting_as), LOCAL_SECRET
    if not settings.client_id:
        raise auth.RefusedError(f"sign-in is not configured: {CLIENT_ID_ENV} is not set")
    token = _session(request)
    if not token:
        raise auth.RefusedError("sign in with your company Google account to see taops")
    claims = auth.verify(token, settings.client_id)
    return auth.admit(claims, ctx.policy, ctx.store), token


def handle(request: flask.Request, ctx: Context, settings: Settings, now: datetime) -> flask.Response:
    """One request to the operations view."""
    path = "/" + request.path.strip("/")
    if path == "/style.css":
        css = (HERE / "static" / "dashboard.css").read_bytes()
        response = _response(css, 200, "text/css; charset=utf-8")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response
    if path == "/login":
        return _login(request, ctx, settings)
    if path == "/logout":
        response = _redirect("/")
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        return response
    try:
        viewer, secret = identify(request, ctx, settings)
    except auth.RefusedError as exc:
        return _refused(request, settings, exc.reason)
    if request.method == "POST":
        return _act(request, ctx, settings, viewer, secret, path, now)
    if request.method != "GET":
        return _json({"error": "use GET, or POST a form to an action"}, 405)
    name = ROUTES.get(path)
    if name is None:
        return (
            _json({"error": f"no page {path}"}, 404)
            if _wants_json(request)
            else _response("no such page", 404)
        )
    return page(request, ctx, viewer, secret, name, now)


def page_data(
    name: str, ctx: Context, now: datetime, viewer: auth.Viewer | None = None, args: Any = None
) -> dict[str, Any]:
    """The data of one page; logs the documents it read."""
    store = ctx.store
    before = getattr(store, "reads", 0)
    if name == "actions":
        data = pages.actions(
            store,
            ctx.policy,
            now,
            account=(args or {}).get("account"),
            person=(args or {}).get("person"),
            can_act=bool(viewer and viewer.can_act),
        )
    else:
        builders = {"today": pages.today, "out": pages.who_is_out, "accounts": pages.accounts}
        data = builders[name](store, ctx.policy, now)
    reads = getattr(store, "reads", 0) - before
    log("INFO", f"dashboard page {name}", page=name, reads=reads)
    return data


def page(
    request: flask.Request, ctx: Context, viewer: auth.Viewer, secret: str, name: str, now: datetime
) -> flask.Response:
    data = page_data(name, ctx, now, viewer, request.args)
    if _wants_json(request):
        return _json(
            {**data, "viewer": {"email": viewer.email, "role": viewer.role, "can_act": viewer.can_act}}
        )
    drawn = {}
    if name == "today":
        drawn["mailbox"] = charts.mailbox_weeks(data["weeks"], ctx.policy.group_mail.sla_hours)
    if name == "accounts":
        drawn["health"] = charts.health_days(data["health_days"])
    query = [(k, v) for k, v in request.args.items(multi=True) if k in ("account", "person") and v]
    html = (
        environment()
        .get_template(f"{name}.html")
        .render(
            title=TITLES[name],
            page=name,
            data=data,
            charts=drawn,
            viewer=viewer,
            now=utc_text(now),
            csrf=auth.csrf_token(secret),
            why_not=viewer.why_not(),
            base="",
            notice=request.args.get("done"),
            notice_ok=request.args.get("ok") == "1",
            query=query,
        )
    )
    return _response(html)


def _act(
    request: flask.Request,
    ctx: Context,
    settings: Settings,
    viewer: auth.Viewer,
    secret: str,
    path: str,
    now: datetime,
) -> flask.Response:
    from shared.dashboard import operate

    parts = path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != "actions" or parts[2] not in ("cancel", "retry"):
        return _json({"error": f"nothing to do at {path}"}, 404)
    action_id, verb = parts[1], parts[2]
    if not auth.csrf_ok(secret, request.form.get("csrf")):
        return _refused(
            request, settings, "this form has expired or did not come from taops: reload the page"
        )
    refusal = viewer.why_not()
    if refusal:
        return _refused(request, settings, refusal)
    if verb == "cancel":
        done = operate.cancel(ctx, action_id, viewer.email, request.form.get("reason", ""), now)
    else:
        done = operate.retry(ctx, action_id, viewer.email, request.form.get("note"), now)
    log(
        "INFO" if done.ok else "WARNING",
        f"dashboard: {verb} {action_id} by {viewer.email}: {done.message}",
        action_id=action_id,
        by=viewer.email,
        verb=verb,
        ok=done.ok,
    )
    if _wants_json(request):
        return _json({"ok": done.ok, "message": done.message, "status": done.status}, 200 if done.ok else 409)
    return _redirect("/actions?" + urlencode({"done": done.message, "ok": "1" if done.ok else "0"}))


def _login(request: flask.Request, ctx: Context, settings: Settings) -> flask.Response:
    """Google Identity Services posts ``credential`` (the ID token) and ``g_csrf_token``
    (also set as a cookie: the two must match). A valid token of someone admitted becomes
    the session cookie, for as long as the token lives."""
    if settings.local:
        return _redirect("/")
    if request.method != "POST":
        return _refused(request, settings, "sign in with your company Google account to see taops")
    if not settings.client_id:
        return _refused(request, settings, f"sign-in is not configured: {CLIENT_ID_ENV} is not set")
    posted, cookie = request.form.get("g_csrf_token"), request.cookies.get("g_csrf_token")
    if not posted or posted != cookie:
        return _refused(request, settings, "the sign-in did not come from Google's button: try again")
    token = request.form.get("credential", "")
    try:
        claims = auth.verify(token, settings.client_id)
        viewer = auth.admit(claims, ctx.policy, ctx.store)
    except auth.RefusedError as exc:
        return _refused(request, settings, exc.reason)
    log("INFO", f"dashboard: {viewer.email} signed in", by=viewer.email)
    response = _redirect("/")
    lifetime = max(0, int(claims.get("exp", 0)) - int(datetime.now().timestamp()))
    response.set_cookie(
        auth.SESSION_COOKIE, token, max_age=lifetime, secure=True, httponly=True, samesite="Lax", path="/"
    )
    return response
