"""The states the dashboard's tests look at: the demo's end state (its weeks replayed, as
``taops demo --serve`` shows them), with one action that failed for real (its Slack
delivery answered ``channel_not_found``), and Google ID tokens signed by a key whose
certificate the mocked Google endpoint publishes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import respx

from shared.book import parse_book
from shared.delivery import deliver
from shared.demo import BOOK, EVENTS, UNTIL
from shared.policy import Policy
from shared.processing import OUTBOX
from shared.replay import dumps_state, replay
from shared.sources.senders import build_senders
from shared.store import EmbeddedStore

ROOT = Path(__file__).resolve().parents[1]
SLACK = "https://slack.com/api/chat.postMessage"
GOOGLE_CERTS = "https://www.googleapis.com/oauth2/v1/certs"
CLIENT_ID = "1234567890-taops.apps.googleusercontent.com"
NOW = UNTIL  # the demo's end: Wed 23 Dec 2026 00:00 UTC


def demo_state(policy: Policy) -> dict[str, Any]:
    """The demo's end state, and one SLA escalation whose delivery failed on Slack."""
    store = EmbeddedStore()
    with EVENTS.open(encoding="utf-8") as lines:
        replay(
            lines,
            parse_book(json.loads(BOOK.read_text()), str(BOOK)),
            policy,
            scheduler=True,
            until=UNTIL,
            store=store,
        )
    failing = escalation(store)
    store.put(OUTBOX, failing, {**store.get(OUTBOX, failing), "status": "published", "dry_run": None})
    error = json.loads((ROOT / "tests" / "events" / "slack_chat_postMessage_response_error.json").read_text())
    with (
        respx.mock(assert_all_called=True) as mock,
        httpx.Client() as http,
        _env(TAOPS_SLACK_BOT_TOKEN="xoxb-test"),
    ):
        mock.post(SLACK).respond(json=error)
        senders = build_senders(http, gmail_token=lambda user: "unused", mail_from="unused@example.com")
        deliver(
            store,
            failing,
            senders,
            policy.delivery,
            NOW - timedelta(hours=2),
            sleep=lambda _: None,
            dry=False,
        )
    assert store.get(OUTBOX, failing)["status"] == "failed"
    return store.dump()


@contextmanager
def _env(**values: str) -> Iterator[None]:
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def escalation(store: EmbeddedStore) -> str:
    """The Slack message of the last ladder step taken on Globex's unanswered thread."""
    steps = [
        (doc["sla_level"], action_id)
        for action_id, doc in store.query(OUTBOX)
        if doc.get("thread_id") == "19b0demothread-globex" and doc.get("kind") == "slack.message"
    ]
    return max(steps)[1]


def write_state(path: Path, state: dict[str, Any]) -> Path:
    path.write_text(dumps_state(state), encoding="utf-8")
    return path


class GoogleKeys:
    """A signing key and the certificate Google's endpoint would publish for it."""

    KID = "taops-test-key"

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "taops-test")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()

    def certs(self) -> dict[str, str]:
        """The body of GET https://www.googleapis.com/oauth2/v1/certs."""
        return {self.KID: self.cert_pem}

    def token(
        self, email: str, audience: str = CLIENT_ID, verified: bool = True, lifetime: int = 3600
    ) -> str:
        from google.auth import crypt, jwt

        now = int(datetime.now(UTC).timestamp())
        claims = {
            "iss": "https://accounts.google.com",
            "azp": audience,
            "aud": audience,
            "sub": str(abs(hash(email))),
            "email": email,
            "email_verified": verified,
            "iat": now,
            "exp": now + lifetime,
        }
        signer = crypt.RSASigner.from_string(self.private_pem, key_id=self.KID)
        return jwt.encode(signer, claims).decode()
