"""``deliver_action`` under faults, on the Firestore emulator, sending to local stand-ins
of the vendors (``tests/vendor_standin.py``, HTTP on 127.0.0.1 in the vendors' shapes):

- killed between the vendor's call and recording it: the action stays claimed until its
  lease runs out (a redelivery before then sends nothing), then the retry sends again
  with the same key, so Vitally keeps one task (``externalId``) and the mailbox one
  message (``Message-ID``). Slack's ``chat.postMessage`` takes no key: that is the window
  left, documented in ``docs/faults.md`` and ``shared/delivery.py``;
- Slack answering 429 for a while: each retry waits the ``Retry-After`` Slack gave, and
  every message goes out once when the limit lifts; nothing is given up on.

Time is scaled down: the rate limit lasts seconds, not a minute, and the lease is passed
by giving the retry a later clock rather than by waiting two minutes.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared import clients
from shared.exceptions import TransientError
from shared.models import Action
from shared.processing import OUTBOX
from tests import vendor_standin
from tests.vendor_standin import Request, Vendors

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LEASE_S = 120  # the bundled policy's delivery.lease_seconds
RATE_LIMIT_S = 8.0  # "a minute" of 429s, scaled down
RETRY_AFTER_S = 1
MESSAGES = 4

# The killed delivery: the entry point as the functions framework calls it, in a process
# of its own so that it can be killed.
CHILD = """
import base64, json, sys
from functions.delivery import deliver_action
action_id = sys.argv[1]
data = base64.b64encode(json.dumps({"id": action_id}).encode()).decode()
deliver_action({"message": {"data": data, "messageId": "1", "attributes": {}}})
"""


def push(action_id: str) -> dict[str, Any]:
    """An ``actions`` message as a push subscription delivers it."""
    data = base64.b64encode(json.dumps({"id": action_id}).encode()).decode()
    return {"message": {"data": data, "messageId": action_id, "attributes": {}}}


@pytest.fixture
def vendors(firestore_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Vendors]:
    stand_in = Vendors()
    server, base = vendor_standin.serve(stand_in)
    for name, value in {
        **vendor_standin.environment(base),
        "TAOPS_STORE": "firestore",
        "TAOPS_CLOCK": NOW.isoformat(),
        "TAOPS_PUBLISH_ACTIONS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TAOPS_DELIVERY", raising=False)
    monkeypatch.delenv("TAOPS_POLICY", raising=False)
    clients.reset()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        clients.reset()


def queue(kind: str, key: str, **fields: Any) -> str:
    action = Action(
        kind=kind,
        at=NOW,
        recipients=["ben@example.com"],
        reason="covering for Ana",
        idempotency_key=f"faults:{key}",
        **fields,
    )
    clients.store().put(OUTBOX, action.id, {**action.model_dump(mode="json"), "status": "published"})
    return action.id


KEYED = {
    "vitally": lambda: queue(
        "vitally.task", "vitally", vitally_account_id="vit-acme", name="Renewal review", due_date="2026-12-01"
    ),
    "gmail": lambda: queue(
        "email.send", "gmail", to=["champion@tyrell.test"], subject="Ana is out", body="Ben covers."
    ),
}


@pytest.mark.parametrize("vendor", list(KEYED))
def test_killed_between_the_vendors_call_and_recording_it_the_retry_sends_the_same_key(
    vendors: Vendors, vendor: str
) -> None:
    from functions.delivery import deliver_action

    action_id = KEYED[vendor]()
    child: dict[str, int] = {}

    def kill(request: Request) -> None:
        # The vendor carried the call out; its answer never reaches the caller.
        if request.vendor == vendor and "pid" in child:
            os.kill(child["pid"], signal.SIGKILL)

    vendors.before_answer = kill
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, action_id],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    child["pid"] = proc.pid
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err.decode(errors="replace")[-2000:]
    vendors.before_answer = None
    [first] = vendors.of(vendor)
    claimed = clients.store().get(OUTBOX, action_id) or {}
    assert claimed["status"] == "sending"  # nothing recorded: the process died first

    # Pub/Sub redelivers before the lease ends: the claim stands, nothing is sent.
    with pytest.raises(TransientError, match="being delivered by another attempt"):
        deliver_action(push(action_id), now=NOW + timedelta(seconds=LEASE_S - 1))
    assert len(vendors.of(vendor)) == 1

    # After the lease: taken over and sent again, with the same key.
    outcome = deliver_action(push(action_id), now=NOW + timedelta(seconds=LEASE_S + 1))
    assert outcome is not None and outcome["status"] == "delivered"
    again = vendors.of(vendor)
    assert len(again) == 2 and again[1].key == first.key
    assert first.key and action_id in first.key
    kept = vendors.tasks if vendor == "vitally" else vendors.mailbox
    assert list(kept) == [first.key]  # the vendor holds one
    done = clients.store().get(OUTBOX, action_id) or {}
    assert done["status"] == "delivered" and done["lease_until"] is None
    # A later redelivery finds it delivered and sends nothing more.
    deliver_action(push(action_id), now=NOW + timedelta(seconds=LEASE_S + 60))
    assert len(vendors.of(vendor)) == 2


def test_slack_rate_limiting_is_waited_out_per_retry_after_and_nothing_is_dropped(vendors: Vendors) -> None:
    from functions.delivery import deliver_action

    ids = [
        queue("slack.message", f"slack-{n}", channel=f"U0COVER{n}", text=f"You cover account {n}")
        for n in range(MESSAGES)
    ]
    vendors.retry_after = RETRY_AFTER_S
    vendors.rate_limited_until = time.monotonic() + RATE_LIMIT_S
    outcomes: dict[str, Any] = {}
    redeliveries: dict[str, int] = {}

    def subscription(action_id: str) -> None:
        # What Pub/Sub does with the message: push it, and push it again while it fails.
        for delivery in range(10):
            try:
                outcomes[action_id] = deliver_action(push(action_id))
                return
            except TransientError:
                redeliveries[action_id] = delivery + 1
                time.sleep(RETRY_AFTER_S)

    threads = [threading.Thread(target=subscription, args=(a,)) for a in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    limited = [r for r in vendors.of("slack") if r.status == 429]
    assert len(limited) >= MESSAGES  # each met the limit at least once
    assert {a: (o or {}).get("status") for a, o in outcomes.items()} == dict.fromkeys(ids, "delivered")
    # Each message posted once, to its channel, after the limit lifted.
    assert sorted(p["channel"] for p in vendors.slack_posts) == sorted(f"U0COVER{n}" for n in range(MESSAGES))
    for action_id in ids:
        doc = clients.store().get(OUTBOX, action_id) or {}
        assert doc["status"] == "delivered"
        assert any("rate limited" in str(entry.get("error")) for entry in doc["attempt_log"])
    # Retry-After honoured: per channel, no request sooner than it after a 429.
    for n in range(MESSAGES):
        times = [r.at for r in vendors.of("slack") if r.body.get("channel") == f"U0COVER{n}"]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps and min(gaps) >= RETRY_AFTER_S - 0.05, gaps
