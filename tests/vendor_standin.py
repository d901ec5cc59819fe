"""Slack, Vitally and Gmail's send, played by a local HTTP server on 127.0.0.1 for the
integration tier's fault tests, answering in the vendors' documented shapes
(``tests/events``: ``slack_chat_postMessage_response_ok.json``,
``slack_ratelimited_429_body.json`` with ``Retry-After`` in seconds,
``gmail_messages_send_response.json``; a Vitally task is answered with an ``id``).

It keeps what a vendor keeps: Vitally one task per ``externalId`` (tasks are unique on
it), a Gmail mailbox one message per ``Message-ID``, Slack every message posted. Every
request is recorded with when it came and what it answered. ``before_answer`` runs after
a request was carried out and before its answer is sent (a test kills the caller there);
``rate_limited_until`` makes Slack answer 429 until then (``time.monotonic``).

Routes: ``POST /slack/api/{method}``, ``POST /vitally/resources/tasks``,
``POST /gmail/users/{user}/messages/send``.
"""

from __future__ import annotations

import base64
import email
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent / "events"


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


@dataclass
class Request:
    at: float  # time.monotonic()
    vendor: str
    path: str
    body: dict[str, Any]
    status: int = 0
    key: str | None = None  # the vendor's idempotency key, where it takes one


@dataclass
class Vendors:
    requests: list[Request] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # externalId → task
    mailbox: dict[str, dict[str, Any]] = field(default_factory=dict)  # Message-ID → message
    slack_posts: list[dict[str, Any]] = field(default_factory=list)
    rate_limited_until: float = 0.0
    retry_after: int = 1
    before_answer: Callable[[Request], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        now = time.monotonic()
        with self.lock:
            if path.startswith("/slack/api/"):
                request = Request(now, "slack", path, body)
                if now < self.rate_limited_until:
                    request.status = 429
                    self.requests.append(request)
                    return (
                        429,
                        _fixture("slack_ratelimited_429_body.json"),
                        {"Retry-After": str(self.retry_after)},
                    )
                self.slack_posts.append(body)
                answer = {**_fixture("slack_chat_postMessage_response_ok.json"), "ts": f"{now:.6f}"}
                answer["channel"] = body.get("channel")
            elif path == "/vitally/resources/tasks":
                key = str(body.get("externalId"))
                request = Request(now, "vitally", path, body, key=key)
                task = self.tasks.setdefault(key, {**body, "id": f"task-{next(self._ids)}"})
                answer = {"id": task["id"], "externalId": key}
            elif path.startswith("/gmail/users/") and path.endswith("/messages/send"):
                raw = base64.urlsafe_b64decode(str(body.get("raw", "")) + "==")
                key = str(email.message_from_bytes(raw).get("Message-ID"))
                request = Request(now, "gmail", path, body, key=key)
                sent = {**_fixture("gmail_messages_send_response.json"), "id": f"msg{next(self._ids)}"}
                answer = self.mailbox.setdefault(key, sent)
            else:
                request = Request(now, "unknown", path, body, status=404)
                self.requests.append(request)
                return 404, {"error": f"no route {path}"}, {}
            request.status = 200
            self.requests.append(request)
        if self.before_answer is not None:
            self.before_answer(request)
        return 200, answer, {}

    def of(self, vendor: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.vendor == vendor]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        status, answer, headers = self.server.vendors.handle(self.path.split("?")[0], body)
        raw = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    vendors: Vendors

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a caller killed mid-request leaves a broken pipe: expected here


def serve(vendors: Vendors) -> tuple[_Server, str]:
    """Serve ``vendors`` on a free port of 127.0.0.1 in a thread; (server, base URL)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.vendors = vendors
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def environment(base: str) -> dict[str, str]:
    """What ``deliver_action`` needs to send to these stand-ins (and nowhere else)."""
    return {
        "TAOPS_SLACK_API": f"{base}/slack/api",
        "TAOPS_SLACK_BOT_TOKEN": "xoxb-standin",
        "TAOPS_SLACK_USER_TOKEN": "xoxp-standin",
        "TAOPS_VITALLY_API_KEY": "standin-key",
        "TAOPS_VITALLY_BASE_URL": f"{base}/vitally",
        "TAOPS_GMAIL_API_BASE": f"{base}/gmail",
        "TAOPS_GMAIL_ACCESS_TOKEN": "ya29.standin",
        "TAOPS_MAIL_SENDER": "technicaladvisors@example.com",
    }
