"""`taops dev` started and stopped for real: a signed Deel payload posted to the local
webhook ends as actions on the emulator's `actions` topic; after Ctrl-C nothing it
started is left running."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from shared.localrun import missing_tools
from shared.sources import deel

ROOT = Path(__file__).resolve().parents[2]


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 180) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if marker in line:
            return seen
    raise AssertionError(f"taops dev never printed {marker!r}:\n{seen}")


def _running(pattern: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if pattern in line and "ps -eo" not in line]


def test_taops_dev_carries_a_deel_payload_to_the_actions_topic_and_stops_clean(emulators) -> None:
    if missing_tools():
        pytest.skip(missing_tools())
    exe = Path(sys.executable).with_name("taops")
    env = {**os.environ, "TAOPS_DEEL_SIGNING_KEY": "it-key", "PYTHONUNBUFFERED": "1"}
    for name in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "TAOPS_STORE", "TAOPS_CLOCK"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [str(exe), "dev"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        banner = _read_until(proc, "ready: Ctrl-C stops everything")
        webhook = re.search(r"deel_webhook\s+(http://\S+)", banner).group(1)
        pubsub_host = re.search(r"pubsub emulator on (\S+)", banner).group(1)
        ports = re.findall(r"127\.0\.0\.1:(\d+)", banner)

        os.environ["PUBSUB_EMULATOR_HOST"] = pubsub_host
        from google.cloud import pubsub_v1

        subscriber = pubsub_v1.SubscriberClient()
        probe = subscriber.subscription_path("taops-local", "actions-probe")
        subscriber.create_subscription(name=probe, topic="projects/taops-local/topics/actions")

        body = json.loads((ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text())
        body["data"]["resource"].update(start_date="2026-12-14", end_date="2026-12-18")
        body["data"]["resource"]["requester"]["work_email"] = "ana@example.com"
        raw = json.dumps(body).encode()
        request = urllib.request.Request(
            webhook,
            data=raw,
            method="POST",
            headers={"content-type": "application/json", "x-deel-signature": deel.signature("it-key", raw)},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

        kinds: set[str] = set()
        deadline = time.monotonic() + 60
        while "gmail.vacation" not in kinds and time.monotonic() < deadline:
            pulled = subscriber.pull(subscription=probe, max_messages=50, timeout=10)
            kinds |= {json.loads(m.message.data)["kind"] for m in pulled.received_messages}
        subscriber.close()
        assert {"email.send", "slack.message", "gmail.vacation", "vitally.task"} <= kinds
    finally:
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    leftovers = [p for port in ports for p in _running(port)]
    assert leftovers == [], leftovers
