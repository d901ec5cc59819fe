"""Sending actions to Slack, Gmail, Google Calendar and Vitally, and how each answer is
classified.

Retryable (``RetryableError``): network errors and timeouts, 429 (with its Retry-After
when that is a number of seconds, else the normal backoff), 5xx, Google's 403 rate
limits, a 200 whose body is not the JSON object the API documents, and Slack's
``ok:false`` errors that say "try again". Configuration (``ConfigurationError``, code
``<vendor>-credentials``): a token or key not set, 401/403, and Slack's ``invalid_auth``,
``not_authed``, ``account_inactive``, ``token_revoked`` and ``missing_scope``; the reason
names the setting to fix. Permanent (``PermanentError``): any other 4xx and Slack's other
``ok:false`` errors (``channel_not_found``, ``not_in_channel``...), and an action missing
what its kind needs. Calendar's 409 on ``events.insert`` is no failure: the event, created
with the action's own id, is already there.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formataddr
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.delivery import RetryableError, Sender
from shared.exceptions import ConfigurationError, PermanentError
from shared.sources.http import google_rate_limited, refused_credentials
from shared.store import Document

if TYPE_CHECKING:
    import httpx

SLACK_API = "https://slack.com/api"
SLACK_RETRYABLE = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# The token is wrong, revoked or lacks a scope: no retry helps until someone fixes it.
SLACK_CONFIGURATION = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope"}
)
GOOGLE_CREDENTIALS = "TAOPS_GMAIL_SA_KEY_FILE (its domain-wide delegation)"


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds; None (the normal backoff) for a date, a negative or NaN."""
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def call(
    vendor: str,
    request: Callable[[], httpx.Response],
    credential: str | None = None,
    expected: frozenset[int] = frozenset(),
) -> httpx.Response:
    """Make one request and classify transport and HTTP failures; ``credential`` names the
    setting an operator fixes when the vendor refuses it; ``expected`` statuses are answers
    the caller handles itself (Calendar's 409 for an event that already exists)."""
    import httpx

    try:
        response = request()
    except httpx.HTTPError as exc:
        raise RetryableError(f"{vendor}: {exc.__class__.__name__}") from exc
    status = response.status_code
    if status in expected:
        return response
    if status == 429 or google_rate_limited(response):
        raise RetryableError(f"{vendor}: rate limited ({status})", _retry_after(response))
    if status in (401, 403):
        raise refused_credentials(vendor, "a delivery", status, credential)
    if status >= 500:
        raise RetryableError(f"{vendor}: answered {status}")
    if status >= 400:
        raise PermanentError(f"{vendor}: answered {status}: {response.text[:200]}")
    return response


def _json_object(vendor: str, what: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RetryableError(f"{vendor} {what}: answered with a body that is not a JSON object")
    return body


def _need(action: Document, *fields: str) -> list[Any]:
    missing = [f for f in fields if not action.get(f)]
    if missing:
        raise PermanentError(f"{action.get('kind')} action has no {', '.join(missing)}")
    return [action[f] for f in fields]


def _env(name: str, vendor: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ConfigurationError(
            f"{vendor.lower()}-credentials", f"{name} is not set: set it to send to {vendor}"
        )
    return value


def slack(client: httpx.Client, method: str, token_env: str, body: dict[str, Any]) -> dict[str, Any]:
    """Call a Slack Web API method with the token in ``token_env``."""
    token = _env(token_env, "Slack")
    response = call(
        "Slack",
        lambda: client.post(
            f"{os.environ.get('TAOPS_SLACK_API', SLACK_API)}/{method}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        ),
        token_env,
    )
    answer = _json_object("Slack", method, response)
    if answer.get("ok"):
        return answer
    error = str(answer.get("error", "unknown_error"))[:100]
    if error in SLACK_RETRYABLE:
        raise RetryableError(f"Slack {method}: {error}", _retry_after(response))
    if error in SLACK_CONFIGURATION:
        needed = f" (needs {str(answer['needed'])[:100]})" if answer.get("needed") else ""
        raise ConfigurationError("slack-credentials", f"Slack {method}: {error}{needed}: check {token_env}")
    raise PermanentError(f"Slack {method}: {error}")


def build_senders(
    client: httpx.Client,
    gmail_token: Callable[[str], str],
    mail_from: str,
    calendar_token: Callable[[str], str] | None = None,
) -> dict[str, Sender]:
    """Every action kind's sender, over one httpx client. ``calendar_token`` gives a token
    that may write a user's calendar (``calendar.event``); by default ``gmail_token``'s."""

    def slack_message(action: Document) -> dict[str, Any]:
        channel, text = _need(action, "channel", "text")
        body: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False}
        if action.get("blocks"):
            body["blocks"] = action["blocks"]  # the text stays as the notification fallback
        answer = slack(client, "chat.postMessage", "TAOPS_SLACK_BOT_TOKEN", body)
        return {"channel": answer.get("channel"), "ts": answer.get("ts")}

    def slack_status(action: Document) -> dict[str, Any]:
        (user,) = _need(action, "user")
        profile = {
            "status_text": action.get("status_text", ""),
            "status_emoji": action.get("status_emoji", ""),
            "status_expiration": int(action.get("status_expiration") or 0),
        }
        slack(client, "users.profile.set", "TAOPS_SLACK_USER_TOKEN", {"user": user, "profile": profile})
        return {"user": user}

    def vitally_task(action: Document) -> dict[str, Any]:
        account, name = _need(action, "vitally_account_id", "name")
        base = os.environ.get("TAOPS_VITALLY_BASE_URL", "https://rest.vitally.io").rstrip("/")
        body = {
            "name": name,
            "accountId": account,
            "externalId": action["id"],
            "dueDate": action.get("due_date"),
            "description": action.get("description") or action.get("reason"),
        }
        key = _env("TAOPS_VITALLY_API_KEY", "Vitally")
        response = call(
            "Vitally",
            lambda: client.post(f"{base}/resources/tasks", json=body, auth=(key, "")),
            "TAOPS_VITALLY_API_KEY",
        )
        return {"task_id": _json_object("Vitally", "POST /resources/tasks", response).get("id")}

    def gmail_base() -> str:
        return os.environ.get("TAOPS_GMAIL_API_BASE", "https://gmail.googleapis.com/gmail/v1").rstrip("/")

    def gmail_vacation(action: Document) -> dict[str, Any]:
        (user,) = _need(action, "user")
        body: dict[str, Any] = {"enableAutoReply": bool(action.get("enable"))}
        if body["enableAutoReply"]:
            body.update(
                responseSubject=action.get("subject", ""),
                responseBodyPlainText=action.get("body", ""),
                restrictToDomain=bool(action.get("restrict_to_domain")),
                restrictToContacts=bool(action.get("restrict_to_contacts")),
                startTime=str(action.get("start_ms")),
                endTime=str(action.get("end_ms")),
            )
        url = f"{gmail_base()}/users/{quote(user)}/settings/vacation"
        token = gmail_token(user)
        call(
            "Gmail",
            lambda: client.put(url, json=body, headers={"Authorization": f"Bearer {token}"}),
            GOOGLE_CREDENTIALS,
        )
        return {"user": user, "enabled": body["enableAutoReply"]}

    def email_send(action: Document) -> dict[str, Any]:
        """``users.messages.send`` as the action's ``sender`` (else the configured mailbox):
        a multipart/alternative message when it has an HTML part, with its headers
        (``List-Unsubscribe``...) and a Message-ID made from the action id, so a retry
        that reaches the customer twice is recognisably the same message."""
        _need(action, "to", "subject", "body")
        raw = base64.urlsafe_b64encode(mime_message(action, mail_from)).decode()
        sender = str(action.get("sender") or mail_from)
        url = f"{gmail_base()}/users/{quote(sender)}/messages/send"
        token = gmail_token(sender)
        response = call(
            "Gmail",
            lambda: client.post(url, json={"raw": raw}, headers={"Authorization": f"Bearer {token}"}),
            GOOGLE_CREDENTIALS,
        )
        answer = _json_object("Gmail", "messages.send", response)
        return {"message_id": answer.get("id"), "thread_id": answer.get("threadId")}

    def calendar_review(action: Document) -> dict[str, Any]:
        user, time_min, time_max = _need(action, "user", "time_min", "time_max")
        syncs = customer_syncs(
            client, gmail_token(user), user, time_min, time_max, set(action.get("company_domains") or [])
        )
        lines: list[str] = []
        per_ae: dict[str, list[str]] = {}
        for event in syncs:
            domains = {a.rsplit("@", 1)[-1] for a in event["external"]}
            matched = [a for a in action.get("accounts") or [] if domains & set(a.get("domains") or [])]
            names = ", ".join(str(a.get("name")) for a in matched) or "no account matched"
            lines.append(f"- {event['start']} {event['summary']} ({names}; {', '.join(event['external'])})")
            for account in matched:
                if account.get("ae_channel"):
                    per_ae.setdefault(account["ae_channel"], []).append(
                        f"- {event['start']} {event['summary']}"
                    )
        bot = "TAOPS_SLACK_BOT_TOKEN"
        if action.get("ta_channel"):
            text = (
                "Customer syncs during your absence to reschedule (their AEs are told):\n" + "\n".join(lines)
                if lines
                else "No customer syncs in your calendar during your absence."
            )
            slack(client, "chat.postMessage", bot, {"channel": action["ta_channel"], "text": text})
        for channel, items in sorted(per_ae.items()):
            text = f"{user} is out of office; these customer syncs will be rescheduled:\n" + "\n".join(items)
            slack(client, "chat.postMessage", bot, {"channel": channel, "text": text})
        return {"syncs": len(syncs), "aes_told": len(per_ae)}

    def calendar_event(action: Document) -> dict[str, Any]:
        """``events.insert`` on the user's calendar with the action's own event id: a retry,
        or a second delivery of the action, finds the event there (409) and creates nothing."""
        user, event_id, summary, start, end = _need(
            action, "calendar_id", "calendar_event_id", "summary", "start", "end"
        )
        zone = action.get("time_zone")
        body: dict[str, Any] = {
            "id": event_id,
            "summary": summary,
            "description": action.get("description") or action.get("reason"),
            "start": {"dateTime": start, **({"timeZone": zone} if zone else {})},
            "end": {"dateTime": end, **({"timeZone": zone} if zone else {})},
            "attendees": [{"email": email} for email in action.get("attendees") or []],
        }
        url = f"{calendar_base()}/calendars/{quote(user)}/events"
        token = (calendar_token or gmail_token)(user)
        params = {"sendUpdates": str(action.get("send_updates") or "all")}
        response = call(
            "Calendar",
            lambda: client.post(url, params=params, json=body, headers={"Authorization": f"Bearer {token}"}),
            GOOGLE_CREDENTIALS,
            expected=frozenset({409}),
        )
        if response.status_code == 409:
            return {"event_id": event_id, "created": False}
        answer = _json_object("Calendar", "events.insert", response)
        return {"event_id": answer.get("id"), "created": True, "html_link": answer.get("htmlLink")}

    def ops_alert(action: Document) -> dict[str, Any]:
        """The operators' alert: to the operations Slack channel, else by mail; by mail too
        when Slack's own credentials are what failed."""
        if action.get("channel"):
            try:
                return {"slack": slack_message(action)}
            except ConfigurationError:
                if not action.get("to"):
                    raise
        if action.get("to"):
            return {"email": email_send({**action, "body": action.get("text")})}
        raise PermanentError("ops.alert: the policy's operations section has no slack_channel and no emails")

    return {
        "ops.alert": ops_alert,
        "calendar.review": calendar_review,
        "calendar.event": calendar_event,
        "slack.message": slack_message,
        "slack.status": slack_status,
        "vitally.task": vitally_task,
        "gmail.vacation": gmail_vacation,
        "email.send": email_send,
    }


def calendar_base() -> str:
    return os.environ.get("TAOPS_CALENDAR_API_BASE", "https://www.googleapis.com/calendar/v3").rstrip("/")


# Headers an action may set on its email; the rest are the sender's to write.
ALLOWED_HEADERS = frozenset({"List-Unsubscribe", "List-Unsubscribe-Post"})


def mime_message(action: Document, mail_from: str) -> bytes:
    """The RFC 2822 message of an ``email.send`` action: From (``sender`` with its
    ``sender_name``, else ``mail_from``), To, Cc, Reply-To, Subject, a Message-ID derived
    from the action id, the action's allowed ``headers``; the text ``body``, and when the
    action has ``html``, both as multipart/alternative (text first, as clients prefer the
    last part they can show)."""
    sender = str(action.get("sender") or mail_from)
    message = EmailMessage()
    name = action.get("sender_name")
    message["From"] = formataddr((str(name), sender)) if name else sender
    message["To"] = ", ".join(action["to"])
    if action.get("cc"):
        message["Cc"] = ", ".join(action["cc"])
    if action.get("reply_to"):
        message["Reply-To"] = str(action["reply_to"])
    message["Subject"] = str(action["subject"])
    if action.get("id"):
        message["Message-ID"] = f"<{action['id']}@{sender.rsplit('@', 1)[-1]}>"
        message["X-Taops-Action"] = str(action["id"])
    for header, value in sorted((action.get("headers") or {}).items()):
        if header not in ALLOWED_HEADERS:
            raise PermanentError(f"email.send: header {header!r} is not one an action may set")
        message[header] = str(value)
    message.set_content(str(action["body"]))
    if action.get("html"):
        message.add_alternative(str(action["html"]), subtype="html")
    return message.as_bytes(policy=SMTP)  # CRLF line ends, as RFC 2822 has them


def customer_syncs(
    client: httpx.Client, token: str, user: str, time_min: str, time_max: str, company_domains: set[str]
) -> list[dict[str, Any]]:
    """Events in the window with attendees outside the company (rooms aside), neither
    cancelled nor out-of-office or focus blocks; recurring meetings as their instances."""
    url = f"{calendar_base()}/calendars/{quote(user)}/events"
    found: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        params = {"timeMin": time_min, "timeMax": time_max, "singleEvents": "true", "orderBy": "startTime"}
        if page:
            params["pageToken"] = page
        request = partial(client.get, url, params=dict(params), headers={"Authorization": f"Bearer {token}"})
        body = _json_object("Calendar", "events.list", call("Calendar", request, GOOGLE_CREDENTIALS))
        for event in body.get("items", []):
            if event.get("status") == "cancelled" or event.get("eventType", "default") != "default":
                continue
            external = sorted(
                str(a["email"]).lower()
                for a in event.get("attendees", [])
                if a.get("email")
                and not a.get("resource")
                and str(a["email"]).rsplit("@", 1)[-1].lower() not in company_domains
            )
            if external:
                start = event.get("start", {})
                found.append(
                    {
                        "summary": event.get("summary", "(no title)"),
                        "start": start.get("dateTime") or start.get("date"),
                        "external": external,
                    }
                )
        page = body.get("nextPageToken")
        if not page:
            return found
