"""A development stand-in for Gmail, for ``taops dev`` only: NOT Gmail.

Under ``taops dev`` there is no Google account and no token, so the pooled mailbox is
played by this small HTTP server (stdlib ``http.server``, one thread per request). It
answers exactly the Gmail API calls ``shared.sources.gmail.GmailApi`` makes, in the
shapes Gmail documents (``tests/events/gmail_*.json``):

- ``GET /users/{user}/history?startHistoryId=N&historyTypes=messageAdded[&pageToken=T]``:
  the messages added after ``N``; 404 when ``N`` is older than the history it holds;
- ``GET /users/{user}/messages/{id}?format=metadata[&metadataHeaders=H...]``: 404 unknown;
- ``GET /users/{user}/messages?q=newer_than:Nd[&maxResults=M][&pageToken=T]`` (the resync);
- ``POST /users/{user}/watch``: ``{historyId, expiration}``.

Each asks for ``Authorization: Bearer <the dev token>`` (401 otherwise, as Gmail answers
a bad token). Mail arrives through a local endpoint Gmail does not have:

- ``POST /dev/messages[?mailbox=ADDRESS]`` with a message resource in ``format=metadata``
  (``id``, ``threadId``, ``labelIds`` and ``internalDate`` are assigned as Gmail would when
  left out; ``historyId`` always is) appends it to the mailbox's history under a new
  history id and, when the mailbox is watched and the labels pass the watch's filter,
  publishes Gmail's push notification ``{"emailAddress", "historyId"}`` to the watch's
  topic, as ``users.watch`` does. The answer says what it did.
- ``GET /dev/health``: 200 once serving.

What it leaves out: message bodies (it holds metadata only: ``format=full`` and ``raw``
answer 400), labels other than on arrival, deletion, and the 7-day expiry of a watch (the
expiration is answered but not enforced, since ``taops dev clock`` may jump weeks ahead).
Its time is ``shared.clock`` (``TAOPS_CLOCK_FILE``: the pipeline's simulated time).

Run it with ``python -m shared.devmail --port P --mailbox ADDRESS --token T``; the
deployed functions never import it.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from shared import clock

DEFAULT_PAGE = 100  # Gmail's default maxResults for history.list and messages.list
MAX_PAGE = 500
MAX_BODY = 1 << 20
FIRST_HISTORY_ID = 1000
WATCH_DAYS = 7
NEWER_THAN = re.compile(r"^newer_than:(\d+)([dmy])$")
NEWER_THAN_DAYS = {"d": 1, "m": 31, "y": 366}
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    502: "UNAVAILABLE",
}
REASONS = {400: "invalidArgument", 401: "authError", 404: "notFound", 409: "duplicate"}

# (topic path, data) -> the Pub/Sub message id.
Publish = Callable[[str, bytes], str]


class GmailError(Exception):
    """An answer in Gmail's error shape: ``{"error": {"code", "message", "errors", "status"}}``."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": str(self),
                "errors": [
                    {"message": str(self), "domain": "global", "reason": REASONS.get(self.code, "error")}
                ],
                "status": STATUS_NAMES.get(self.code, "UNKNOWN"),
            }
        }


@dataclass
class Watch:
    topic: str
    label_ids: list[str]
    behavior: str  # INCLUDE or EXCLUDE

    def passes(self, labels: list[str]) -> bool:
        if not self.label_ids:
            return True
        hit = any(label in labels for label in self.label_ids)
        return hit if self.behavior == "INCLUDE" else not hit


@dataclass
class Mailbox:
    address: str
    history_id: int = FIRST_HISTORY_ID
    # Gmail keeps history for a while only; this one keeps all of it since it started.
    oldest_history_id: int = FIRST_HISTORY_ID
    history: list[dict[str, Any]] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    watch: Watch | None = None


def _page(params: dict[str, list[str]]) -> tuple[int, int]:
    """(offset, size) from ``pageToken`` and ``maxResults``."""
    try:
        offset = int(params.get("pageToken", ["0"])[0])
        size = int(params.get("maxResults", [str(DEFAULT_PAGE)])[0])
    except ValueError:
        raise GmailError(400, "Invalid pageToken or maxResults") from None
    if offset < 0 or size < 1:
        raise GmailError(400, "Invalid pageToken or maxResults")
    return offset, min(size, MAX_PAGE)


def _ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


class DevGmail:
    """The mailboxes and their history, behind one lock (requests come on many threads)."""

    def __init__(
        self, default_mailbox: str, publish: Publish, now: Callable[[], datetime] = clock.now
    ) -> None:
        self.default_mailbox = default_mailbox.lower()
        self.publish = publish
        self.now = now
        self._lock = threading.Lock()
        self._mailboxes: dict[str, Mailbox] = {}

    def _mailbox(self, user: str) -> Mailbox:
        address = self.default_mailbox if user == "me" else user.lower()
        if address not in self._mailboxes:
            self._mailboxes[address] = Mailbox(address)
        return self._mailboxes[address]

    # -- the Gmail API -------------------------------------------------------------------

    def history(self, user: str, params: dict[str, list[str]]) -> dict[str, Any]:
        try:
            start = int(params["startHistoryId"][0])
        except (KeyError, ValueError):
            raise GmailError(400, "Invalid startHistoryId") from None
        types = set(params.get("historyTypes", []))
        if types - {"messageAdded"}:
            raise GmailError(400, "this stand-in records messageAdded history only")
        offset, size = _page(params)
        with self._lock:
            box = self._mailbox(user)
            if start < box.oldest_history_id:
                raise GmailError(404, "Requested entity was not found.")
            records = [r for r in box.history if int(r["id"]) > start]
            current = box.history_id
        answer: dict[str, Any] = {"historyId": str(current)}
        chunk = records[offset : offset + size]
        if chunk:  # Gmail leaves out an empty list
            answer["history"] = chunk
        if offset + size < len(records):
            answer["nextPageToken"] = str(offset + size)
        return answer

    def list_messages(self, user: str, params: dict[str, list[str]]) -> dict[str, Any]:
        query = " ".join(params.get("q", [])).strip()
        offset, size = _page(params)
        since: datetime | None = None
        if query:
            match = NEWER_THAN.match(query)
            if match is None:
                raise GmailError(400, f"this stand-in understands only q=newer_than:N[d|m|y], not {query!r}")
            since = self.now() - timedelta(days=int(match.group(1)) * NEWER_THAN_DAYS[match.group(2)])
        with self._lock:
            held = list(self._mailbox(user).messages.values())
        if since is not None:
            held = [m for m in held if int(m["internalDate"]) >= int(_ms(since))]
        held.sort(key=lambda m: (int(m["internalDate"]), int(m["historyId"])), reverse=True)  # newest first
        chunk = held[offset : offset + size]
        answer: dict[str, Any] = {"resultSizeEstimate": len(held)}
        if chunk:
            answer["messages"] = [{"id": m["id"], "threadId": m["threadId"]} for m in chunk]
        if offset + size < len(held):
            answer["nextPageToken"] = str(offset + size)
        return answer

    def get_message(self, user: str, message_id: str, params: dict[str, list[str]]) -> dict[str, Any]:
        form = params.get("format", ["full"])[0]
        if form not in ("metadata", "minimal"):
            raise GmailError(400, f"this stand-in holds metadata only: format={form} is not served")
        with self._lock:
            stored = self._mailbox(user).messages.get(message_id)
        if stored is None:
            raise GmailError(404, "Requested entity was not found.")
        message = json.loads(json.dumps(stored))
        if form == "minimal":
            message.pop("payload", None)
            return message
        wanted = {h.lower() for h in params.get("metadataHeaders", [])}
        payload = message.get("payload")
        if wanted and isinstance(payload, dict):
            payload["headers"] = [
                h for h in payload.get("headers") or [] if str(h.get("name", "")).lower() in wanted
            ]
        return message

    def watch(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        topic = body.get("topicName")
        if not isinstance(topic, str) or not re.match(r"^projects/[^/]+/topics/[^/]+$", topic):
            raise GmailError(400, "Invalid topicName: expected projects/PROJECT/topics/TOPIC")
        labels = body.get("labelIds") or []
        behavior = str(body.get("labelFilterBehavior") or body.get("labelFilterAction") or "INCLUDE")
        if not isinstance(labels, list) or behavior.upper() not in ("INCLUDE", "EXCLUDE"):
            raise GmailError(400, "Invalid labelIds or labelFilterBehavior")
        with self._lock:
            box = self._mailbox(user)
            box.watch = Watch(topic, [str(label) for label in labels], behavior.upper())
            current = box.history_id
        return {"historyId": str(current), "expiration": _ms(self.now() + timedelta(days=WATCH_DAYS))}

    # -- mail arriving (not a Gmail call) -------------------------------------------------

    def deliver(self, mailbox: str | None, resource: Any) -> dict[str, Any]:
        """Add a message to ``mailbox`` (default: the pooled one) and push, as Gmail would."""
        if not isinstance(resource, dict):
            raise GmailError(400, "a message resource must be a JSON object")
        payload = resource.get("payload", {})
        if not isinstance(payload, dict) or not isinstance(payload.get("headers", []), list):
            raise GmailError(400, "payload.headers must be a list of {name, value}")
        if "internalDate" in resource:
            try:
                int(resource["internalDate"])
            except (TypeError, ValueError):
                raise GmailError(400, "internalDate must be milliseconds since the epoch") from None
        message = json.loads(json.dumps(resource))
        with self._lock:
            box = self._mailbox(mailbox or self.default_mailbox)
            message_id = str(message.get("id") or secrets.token_hex(8))
            if message_id in box.messages:
                raise GmailError(409, f"message {message_id} is already in {box.address}")
            box.history_id += 1
            message.update(
                id=message_id,
                threadId=str(message.get("threadId") or message_id),  # a new conversation
                labelIds=[str(label) for label in message.get("labelIds") or ["UNREAD", "INBOX"]],
                internalDate=str(message.get("internalDate") or _ms(self.now())),
                historyId=str(box.history_id),
            )
            box.messages[message_id] = message
            ref = {"id": message_id, "threadId": message["threadId"]}
            box.history.append(
                {
                    "id": str(box.history_id),
                    "messages": [ref],
                    "messagesAdded": [{"message": {**ref, "labelIds": message["labelIds"]}}],
                }
            )
            watch, address, history_id = box.watch, box.address, box.history_id
        answer: dict[str, Any] = {
            "mailbox": address,
            "id": message_id,
            "threadId": message["threadId"],
            "historyId": str(history_id),
            "internalDate": message["internalDate"],
            "pushed_to": None,
        }
        if watch is None:
            answer["not_pushed"] = f"{address} has no users.watch"
            return answer
        if not watch.passes(message["labelIds"]):
            answer["not_pushed"] = f"its labels do not pass the watch's filter ({watch.label_ids})"
            return answer
        notification = json.dumps({"emailAddress": address, "historyId": str(history_id)})
        try:
            answer["push_message_id"] = self.publish(watch.topic, notification.encode())
        except Exception as exc:  # the message stays in the mailbox, as in Gmail
            failed = f"message {message_id} added, but the push to {watch.topic} failed: {exc}"
            raise GmailError(502, failed) from exc
        answer["pushed_to"] = watch.topic
        return answer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> bytes:
        """The whole request body, read before anything is answered (the connection is
        kept alive: bytes left unread would be taken for the next request)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise GmailError(400, "bad Content-Length") from None
        if length > MAX_BODY:
            self.close_connection = True
            raise GmailError(413, "request body over 1 MiB")
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        try:
            raw = self._body() if method == "POST" else b""
            status, body = 200, self._route(method, raw)
        except GmailError as exc:
            status, body = exc.code, exc.body()
        self._answer(status, body)

    def _route(self, method: str, raw: bytes) -> dict[str, Any]:
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        gmail = self.server.gmail
        if parts == ["dev", "health"] and method == "GET":
            return {"ok": True, "mailbox": gmail.default_mailbox}
        if parts == ["dev", "messages"] and method == "POST":
            return gmail.deliver(params.get("mailbox", [None])[0], _json(raw))
        if parts[:2] == ["gmail", "v1"]:  # Gmail's own paths, with or without the prefix
            parts = parts[2:]
        if len(parts) >= 3 and parts[0] == "users":
            self._authorize()
            user, rest = parts[1], parts[2:]
            if method == "GET" and rest == ["history"]:
                return gmail.history(user, params)
            if method == "GET" and rest == ["messages"]:
                return gmail.list_messages(user, params)
            if method == "GET" and len(rest) == 2 and rest[0] == "messages":
                return gmail.get_message(user, rest[1], params)
            if method == "POST" and rest == ["watch"]:
                return gmail.watch(user, _json(raw))
        raise GmailError(404, f"no {method} {url.path} here")

    def _authorize(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {self.server.token}":
            raise GmailError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token "
                "(this stand-in takes the taops dev token only).",
            )

    def do_GET(self) -> None:  # http.server's naming
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"devmail {self.address_string()} {format % args}\n")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        raise GmailError(400, "the request body is not JSON") from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], gmail: DevGmail, token: str) -> None:
        super().__init__(address, _Handler)
        self.gmail = gmail
        self.token = token


def server(
    port: int,
    mailbox: str,
    token: str,
    publish: Publish | None = None,
    now: Callable[[], datetime] = clock.now,
) -> ThreadingHTTPServer:
    """The stand-in bound to 127.0.0.1:``port`` (0: any free port), not yet serving: call
    ``serve_forever`` (in a thread, for tests) and ``shutdown`` to stop."""
    return _Server(("127.0.0.1", port), DevGmail(mailbox, publish or pubsub_publish, now), token)


def pubsub_publish(topic: str, data: bytes) -> str:
    """Publish to a full topic path (the Pub/Sub emulator under ``PUBSUB_EMULATOR_HOST``)."""
    from shared import pubsub

    return str(pubsub.publisher().publish(topic, data).result(timeout=pubsub.PUBLISH_TIMEOUT_S))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.devmail", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mailbox", required=True, help="the pooled mailbox (also what 'me' means)")
    parser.add_argument("--token", required=True, help="the bearer token the functions present")
    args = parser.parse_args(argv)
    httpd = server(args.port, args.mailbox, args.token)
    sys.stderr.write(f"devmail: Gmail stand-in for {args.mailbox} on http://127.0.0.1:{args.port}/\n")
    sys.stderr.flush()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
