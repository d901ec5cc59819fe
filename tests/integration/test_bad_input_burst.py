"""Bad input at volume, concurrently, against `taops dev`: random invalid bodies posted 16
at a time to each webhook the functions framework serves, half of them authenticated (so
they reach the parser and the normaliser) and half not. Every answer is a 4xx (or 200
``ignored`` for a well-formed change of something taops does not use), nothing reaches a
topic, and the only documents written are dead letters, one per refused body.

The single-request property test (hypothesis, through a test client) is
``test_webhook_random_bodies.py``; this one adds the real server, concurrency and the
push wiring behind it. Bounded: a fixed number of bodies, traffic only to 127.0.0.1.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import dev
from shared.dev.pipeline import DevPipeline
from shared.sources import deel
from tests.burst_traffic import dead_letter_id
from tests.integration.dev_pipeline import running

PROJECT = "taops-local"
EVENTS = Path(__file__).resolve().parents[1] / "events"
PER_WEBHOOK = 400
CONCURRENCY = 16
TOPICS = {"deel": "pto-logged", "salesforce": "renewal-changed", "vitally": "health-changed"}
TEMPLATES = {
    "deel": "deel_time_off_reviewed_approved.json",
    "salesforce": "salesforce_cdc_opportunity_update_pubsub_decoded.json",
    "vitally": "vitally_playbook_webhook_UNCONFIRMED.json",
}
# Refusals answered before the body is read: nothing is kept for them.
UNREAD = {405, 413, 415}


@pytest.fixture
def pipeline(emulators: dict[str, str], tmp_path: Path) -> Iterator[DevPipeline]:
    with running(tmp_path / "dev") as started:
        yield started


def _value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(9 if depth < 3 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.randint(-(10**12), 10**12)
    if pick == 3:
        return rng.uniform(-1e9, 1e9)
    if pick in (4, 5):
        return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(0, 30)))
    if pick in (6, 7):
        return {f"k{rng.randrange(99)}": _value(rng, depth + 1) for _ in range(rng.randrange(0, 5))}
    return [_value(rng, depth + 1) for _ in range(rng.randrange(0, 5))]


def _shaped(rng: random.Random, template: Any, depth: int = 0) -> Any:
    """The vendor's own keys, each value replaced (or its keys' values, one level down)."""
    if isinstance(template, dict) and depth < 2:
        return {k: _shaped(rng, v, depth + 1) for k, v in template.items() if rng.random() < 0.8}
    return _value(rng)


def bad_body(rng: random.Random, source: str) -> bytes:
    template = json.loads((EVENTS / TEMPLATES[source]).read_text(encoding="utf-8"))
    valid = json.dumps(template).encode()
    pick = rng.randrange(6)
    if pick == 0:
        return rng.randbytes(rng.randrange(0, 2048))
    if pick == 1:
        return json.dumps(_value(rng)).encode()
    if pick == 2:
        return json.dumps(_shaped(rng, template)).encode()
    if pick == 3:
        return valid[: rng.randrange(1, len(valid) - 1)]  # cut short: never whole JSON
    if pick == 4:
        return b"[" * rng.randrange(100, 5000) + b"]" * rng.randrange(0, 100)
    # One field of a real body made impossible (and another varied, to tell them apart).
    if source == "deel":
        template["data"]["resource"].update(start_date="2027-03-10", end_date="2027-03-01")
        template["data"]["resource"]["id"] = f"bad-{rng.randrange(10**9)}"
    elif source == "salesforce":
        template["ChangeEventHeader"].update(recordIds=["*"], transactionKey=f"bad-{rng.randrange(10**9)}")
    else:
        template["match"]["account"].update(
            updatedAt="9999-01-01T00:00:00Z", name=f"bad-{rng.randrange(10**9)}"
        )
    return json.dumps(template).encode()


def sentinel_body(source: str) -> bytes:
    """A valid body for ``source``, to show its topic received nothing before it."""
    template = json.loads((EVENTS / TEMPLATES[source]).read_text(encoding="utf-8"))
    if source == "deel":  # dates ahead of the pipeline's real clock
        return dev.deel_body(
            template, email="ana@example.com", start=date(2027, 2, 1), end=date(2027, 2, 3)
        ).encode()
    return json.dumps(template).encode()


def request_for(pipeline: DevPipeline, source: str, body: bytes, signed: bool) -> tuple[str, dict[str, str]]:
    env = pipeline.env
    headers = {"content-type": "application/json"}
    if source == "deel":
        key = env["TAOPS_DEEL_SIGNING_KEY"] if signed else "not-the-key"
        return pipeline.urls["deel_webhook"], {**headers, "x-deel-signature": deel.signature(key, body)}
    if source == "salesforce":
        token = env["TAOPS_SALESFORCE_TOKEN"] if signed else "guess"
        return pipeline.urls["salesforce_webhook"], {
            **headers,
            "x-taops-token": token,
            "x-salesforce-org-id": env["TAOPS_SALESFORCE_ORG_IDS"].split(",")[0],
        }
    token = env["TAOPS_VITALLY_TOKEN"] if signed else "guess"
    return pipeline.urls["vitally_webhook"], {**headers, "x-taops-token": token}


def collections(project: str) -> dict[str, dict[str, dict[str, Any]]]:
    from google.cloud import firestore

    client = firestore.Client(project=project)
    try:
        return {c.id: {doc.id: doc.to_dict() or {} for doc in c.stream()} for c in client.collections()}
    finally:
        client.close()


class Probes:
    """A pull subscription on each webhook's topic, made before anything is posted."""

    def __init__(self) -> None:
        from google.cloud import pubsub_v1

        self.sub = pubsub_v1.SubscriberClient()
        self.paths = {}
        for source, topic in TOPICS.items():
            path = self.sub.subscription_path(PROJECT, f"{topic}-bad-input-probe")
            self.sub.create_subscription(name=path, topic=f"projects/{PROJECT}/topics/{topic}")
            self.paths[source] = path

    def drain_until(self, source: str, event_id: str, timeout: float = 60) -> list[str]:
        """Every event id pulled from ``source``'s topic until ``event_id`` comes."""
        from google.api_core.exceptions import DeadlineExceeded

        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and event_id not in seen:
            try:
                answer = self.sub.pull(subscription=self.paths[source], max_messages=100, timeout=10)
            except DeadlineExceeded:
                continue
            for received in answer.received_messages:
                seen.append(received.message.attributes.get("event_id", "?"))
            if answer.received_messages:
                self.sub.acknowledge(
                    subscription=self.paths[source], ack_ids=[m.ack_id for m in answer.received_messages]
                )
        return seen

    def close(self) -> None:
        self.sub.close()


def test_random_bad_bodies_posted_concurrently_are_4xx_publish_nothing_and_write_only_dead_letters(
    pipeline: DevPipeline,
) -> None:
    rng = random.Random(6)
    posts: list[tuple[str, bytes, bool]] = []
    for source in TOPICS:
        bodies: set[bytes] = set()
        while len(bodies) < PER_WEBHOOK:  # distinct, so each keeps its own dead letter
            body = bad_body(rng, source)
            if body not in bodies:
                bodies.add(body)
                posts.append((source, body, rng.random() < 0.5))
    rng.shuffle(posts)
    probes = Probes()
    before = collections(PROJECT)

    def send(item: tuple[str, bytes, bool], client: httpx.Client) -> tuple[int, dict[str, Any]]:
        source, body, signed = item
        url, headers = request_for(pipeline, source, body, signed)
        response = client.post(url, content=body, headers=headers)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"unreadable answer": response.text[:200]}

    try:
        with (
            httpx.Client(timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY)) as client,
            ThreadPoolExecutor(CONCURRENCY) as pool,
        ):
            answers = list(pool.map(lambda item: send(item, client), posts))

        statuses = Counter(status for status, _ in answers)
        ignored = [a for s, a in answers if s == 200]
        assert all(400 <= s < 500 for s in statuses if s != 200), statuses
        assert all(a == {"ignored": True} for a in ignored), ignored[:3]
        assert statuses[400] > 0 and statuses[401] > 0
        for (source, _, signed), (status, answer) in zip(posts, answers, strict=True):
            # (A signed Outbound Message naming no allowed org is a 401 too.)
            assert status != 401 or not signed or source == "salesforce"
            assert "event_ids" not in answer

        # Refused input reaches dead_letters through the refused-input topic (the webhooks
        # hold no Firestore role): wait, bounded, for the documents the answers promise.
        promised = {
            dead_letter_id(source, body)
            for (source, body, _), (status, _) in zip(posts, answers, strict=True)
            if status >= 400 and status not in UNREAD
        }
        waited_until = time.monotonic() + 120
        after = collections(PROJECT)
        while not promised <= set(after.get("dead_letters", {})) and time.monotonic() < waited_until:
            time.sleep(0.5)
            after = collections(PROJECT)
        # Nothing but dead letters was written...
        assert {k: v for k, v in after.items() if k != "dead_letters"} == {
            k: v for k, v in before.items() if k != "dead_letters"
        }
        # ...one per refused body that was read (an unauthenticated one without its body).
        kept = after.get("dead_letters", {})
        for (source, body, _), (status, _) in zip(posts, answers, strict=True):
            if status >= 400 and status not in UNREAD:
                doc = kept.get(dead_letter_id(source, body))
                assert doc is not None, (source, status, body[:80])
                assert (doc["raw"] is None) == (status == 401)
        assert set(kept) <= {dead_letter_id(s, b) for s, b, _ in posts}

        # Nothing was published: the next good event is the first on each topic.
        for source in TOPICS:
            good = sentinel_body(source)
            url, headers = request_for(pipeline, source, good, signed=True)
            answer = httpx.post(url, content=good, headers=headers, timeout=60).json()
            [sentinel] = answer["event_ids"]
            assert probes.drain_until(source, sentinel) == [sentinel]
    finally:
        probes.close()
