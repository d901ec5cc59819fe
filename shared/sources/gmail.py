"""The pooled TA mailbox through the Gmail API: push notifications, history, metadata, watch.

Gmail publishes ``{"emailAddress", "historyId"}`` to the ``gmail-push`` topic; taops pages
``users.history.list`` from the last history id it stored, fetches each added message with
``format=metadata`` (headers only: bodies are never fetched or stored) and normalises it
to a group-message event. An expired history id (404) triggers a bounded resync of recent
messages. ``users.watch`` expires after 7 days and must be renewed.

HTTP faults: 429, 5xx and timeouts are ``TransientError`` (retry); missing or rejected
credentials are ``ConfigurationError`` (kept, operators alerted); a notification or a
message that does not parse is ``PermanentError``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.events import EventEnvelope
from shared.exceptions import ConfigurationError, PermanentError
from shared.models import utc_text
from shared.sources.http import json_object, send

if TYPE_CHECKING:
    import httpx

GROUP_MESSAGE_TYPE = "mail.group_message"
METADATA_HEADERS = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    # RFC 3834 and the older convention: auto-replies never start an SLA wait.
    "Auto-Submitted",
    "Precedence",
)
_CANONICAL = {header.lower(): header for header in METADATA_HEADERS}
SCOPES = ("https://www.googleapis.com/auth/gmail.metadata",)
DEFAULT_BASE = "https://gmail.googleapis.com/gmail/v1"
# What delivery does as the user: set the autoresponder, send mail, read the calendar.
DELIVERY_SCOPES = (
    "https://www.googleapis.com/auth/gmail.settings.basic",
    "https://www.googleapis.com/auth/gmail.send",
    "https://www.googleapis.com/auth/calendar.readonly",
)
# Writing calendars (the MBR as a calendar event, when the policy's mbr.calendar_event asks
# for it) is asked for apart, only by that delivery: a delegation without it keeps every
# other delivery working.
CALENDAR_WRITE_SCOPES = ("https://www.googleapis.com/auth/calendar.events",)


class HistoryExpiredError(Exception):
    """Gmail no longer has history from the stored id: resync instead."""


def decode_notification(raw: bytes | str) -> tuple[str, int]:
    """(mailbox, history id) from a decoded Pub/Sub message; ``PermanentError`` if malformed."""
    try:
        data = json.loads(raw)
        mailbox = str(data["emailAddress"]).strip().lower()
        history_id = int(data["historyId"])
    except (ValueError, TypeError, KeyError) as exc:
        raise PermanentError(
            f"not a Gmail notification ({exc.__class__.__name__}: {str(exc)[:60]})"
        ) from None
    if "@" not in mailbox:
        raise PermanentError("emailAddress: not an email address")
    return mailbox, history_id


class GmailApi:
    """The few Gmail API calls taops makes, over httpx with a bearer token per mailbox."""

    def __init__(self, client: httpx.Client, token: str, base_url: str | None = None) -> None:
        self.client = client
        self.token = token
        self.base = (base_url or os.environ.get("TAOPS_GMAIL_API_BASE") or DEFAULT_BASE).rstrip("/")

    def _get(self, path: str, params: Sequence[tuple[str, str]]) -> httpx.Response:
        query: list[tuple[str, str | int | float | bool | None]] = list(params)
        headers = {"Authorization": f"Bearer {self.token}"}
        return send(
            "Gmail", path, lambda: self.client.get(f"{self.base}{path}", params=query, headers=headers)
        )

    @staticmethod
    def _check(response: httpx.Response, what: str) -> dict[str, Any]:
        return json_object("Gmail", what, response)

    def added_since(self, user: str, start_history_id: int) -> tuple[list[str], int]:
        """Ids of messages added since ``start_history_id`` and the newest history id.

        Raises ``HistoryExpiredError`` when Gmail answers 404 for the start id.
        """
        ids: list[str] = []
        latest = start_history_id
        page: str | None = None
        while True:
            params = [("startHistoryId", str(start_history_id)), ("historyTypes", "messageAdded")]
            if page:
                params.append(("pageToken", page))
            response = self._get(f"/users/{quote(user)}/history", params)
            if response.status_code == 404:
                raise HistoryExpiredError(str(start_history_id))
            body = self._check(response, "history.list")
            for record in body.get("history", []):
                for added in record.get("messagesAdded", []):
                    message_id = (added.get("message") or {}).get("id")
                    if message_id and message_id not in ids:
                        ids.append(message_id)
            latest = max(latest, int(body.get("historyId") or latest))
            page = body.get("nextPageToken")
            if not page:
                return ids, latest

    def recent(self, user: str, days: int) -> list[str]:
        """Ids of messages of the last ``days`` days (the resync after an expired history id)."""
        ids: list[str] = []
        page: str | None = None
        while True:
            params = [("q", f"newer_than:{days}d"), ("maxResults", "500")]
            if page:
                params.append(("pageToken", page))
            body = self._check(self._get(f"/users/{quote(user)}/messages", params), "messages.list")
            ids += [m["id"] for m in body.get("messages", []) if m.get("id")]
            page = body.get("nextPageToken")
            if not page:
                return ids

    def metadata(self, user: str, message_id: str) -> dict[str, Any] | None:
        """The message's metadata (headers, labels, dates), or None if it was deleted meanwhile."""
        params = [("format", "metadata"), *(("metadataHeaders", h) for h in METADATA_HEADERS)]
        response = self._get(f"/users/{quote(user)}/messages/{quote(message_id)}", params)
        if response.status_code == 404:
            return None
        return self._check(response, "messages.get")

    def watch(self, user: str, topic: str, label_ids: list[str] | None = None) -> dict[str, Any]:
        """Renew ``users.watch`` (it expires after 7 days); returns ``{historyId, expiration}``."""
        body = {"topicName": topic, "labelIds": label_ids or ["INBOX"], "labelFilterBehavior": "INCLUDE"}
        url = f"{self.base}/users/{quote(user)}/watch"
        headers = {"Authorization": f"Bearer {self.token}"}
        return self._check(
            send("Gmail", "watch", lambda: self.client.post(url, json=body, headers=headers)), "watch"
        )


def access_token(mailbox: str, scopes: Sequence[str] | None = None) -> str:
    """A token for ``mailbox``: ``TAOPS_GMAIL_ACCESS_TOKEN`` when set (local runs), else a
    service-account key with domain-wide delegation impersonating the mailbox. ``scopes``
    default to gmail.metadata, read with ``TAOPS_GMAIL_METADATA_KEY_FILE``; any other scope
    (delivery's) takes ``TAOPS_GMAIL_SA_KEY_FILE`` (``clients.google_key_variable``)."""
    from shared.clients import google_key_variable

    token = os.environ.get("TAOPS_GMAIL_ACCESS_TOKEN")
    if token:
        return token
    wanted = list(scopes or SCOPES)
    variable = google_key_variable(wanted)
    key_file = os.environ.get(variable)
    if not key_file:
        raise ConfigurationError(
            "gmail-credentials",
            f"no Gmail credentials: set {variable} (or TAOPS_GMAIL_ACCESS_TOKEN)",
        )
    from google.auth.exceptions import GoogleAuthError
    from google.auth.transport.requests import Request
    from google.oauth2 import service_account

    try:
        creds = service_account.Credentials.from_service_account_file(
            key_file,
            scopes=wanted,
            subject=mailbox,
        )
        creds.refresh(Request())
    except (GoogleAuthError, OSError, ValueError) as exc:
        raise ConfigurationError(
            "gmail-credentials", f"Gmail credentials for {mailbox} failed: {exc}"
        ) from exc
    return str(creds.token)


def _headers(message: dict[str, Any]) -> dict[str, str]:
    payload = message.get("payload")
    headers = payload.get("headers") if isinstance(payload, dict) else None
    if headers is not None and not isinstance(headers, list):
        raise PermanentError("Gmail message: payload.headers is not a list")
    found: dict[str, str] = {}
    for header in headers or []:
        if not isinstance(header, dict):
            raise PermanentError("Gmail message: a header is not a {name, value} object")
        name = str(header.get("name", ""))
        canonical = _CANONICAL.get(name.lower())
        if canonical and canonical not in found:
            # Metadata only, and bounded: a header is never a place to store a body.
            found[canonical] = str(header.get("value", ""))[:2000]
    return found


def _addresses(value: str) -> list[str]:
    return list(_address_list(value))


# A mailbox hears from the same few people again and again, and the standard library's
# address parser is slow: each header text is parsed once (a header is at most 2,000
# characters, see _headers).
@lru_cache(maxsize=4096)
def _address_list(value: str) -> tuple[str, ...]:
    return tuple(addr.lower() for _, addr in getaddresses([value]) if "@" in addr)


@lru_cache(maxsize=4096)
def _sender(value: str) -> tuple[str, str]:
    return parseaddr(value)


def normalize_message(
    message: dict[str, Any], mailbox: str, received_at: datetime, company_domains: Sequence[str] = ()
) -> EventEnvelope:
    """A group-message event from a ``format=metadata`` message resource.

    ``from_company_domain`` says whether the sender writes from one of the company's
    domains; the handler adds the directory (a teammate on a personal address).
    """
    if not isinstance(message, dict):
        raise PermanentError("Gmail message: not an object")
    try:
        message_id = str(message["id"])
        thread_id = str(message["threadId"])
        internal = datetime.fromtimestamp(int(message["internalDate"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError) as exc:
        raise PermanentError(f"Gmail message: missing or bad {str(exc)[:80]}") from None
    if not message_id or not thread_id or len(message_id) > 200 or len(thread_id) > 200:
        raise PermanentError("Gmail message: id and threadId must be 1 to 200 characters")
    headers = _headers(message)
    name, address = _sender(headers.get("From", ""))
    sender = address.lower() if "@" in address else None
    payload = {
        "mailbox": mailbox,
        "message_id": message_id,
        "thread_id": thread_id,
        "from": sender,
        "from_name": name.strip() or None,
        "to": _addresses(headers.get("To", "")),
        "cc": _addresses(headers.get("Cc", "")),
        "subject": headers.get("Subject", ""),
        "date": headers.get("Date"),
        "rfc822_message_id": headers.get("Message-ID"),
        "in_reply_to": headers.get("In-Reply-To"),
        "references": headers.get("References", "").split(),
        "labels": [str(label) for label in (message.get("labelIds") or [])][:50],
        "auto_submitted": headers.get("Auto-Submitted"),
        "precedence": headers.get("Precedence"),
        "internal_date": utc_text(internal),
        "from_company_domain": sender is not None
        and sender.rsplit("@", 1)[-1] in {d.lower() for d in company_domains},
    }
    return EventEnvelope(
        source="gmail",
        type=GROUP_MESSAGE_TYPE,
        event_id=f"{mailbox}:{message_id}",
        entity_key=f"thread:{thread_id}",
        occurred_at=internal,
        received_at=received_at,
        payload=payload,
    )
