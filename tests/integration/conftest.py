"""The integration tier runs against the real Firestore and Pub/Sub emulators.

A session fixture starts each emulator from the gcloud SDK on a free port, in its own
process group (gcloud starts a Java child that would otherwise outlive the tests), and
stops the whole group afterwards. Without gcloud the tier is skipped with the reason,
unless TAOPS_REQUIRE_EMULATORS=1, where a missing emulator fails the run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("TAOPS_REQUIRE_EMULATORS") == "1"
START_TIMEOUT_S = 90


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"TAOPS_REQUIRE_EMULATORS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Emulator:
    def __init__(self, name: str, args: list[str]) -> None:
        self.name = name
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix=f"taops-{name}-", suffix=".log")[1])
        env = {
            **os.environ,
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
        }
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["gcloud", *args, f"--host-port={self.host}"],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        tail = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        _unavailable(f"the {self.name} emulator did not start on {self.host}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        # gcloud may exit before its Java child: sweep the group whatever happened.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _gcloud_has(component_dir: str) -> bool:
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return False
    root = Path(gcloud).resolve().parent.parent
    return (root / "platform" / component_dir).exists()


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, str]]:
    """Start both emulators once per session; yields their host:port by name."""
    if not shutil.which("gcloud"):
        _unavailable("gcloud is not installed: the emulator tier needs the Google Cloud SDK")
    for component in ("cloud-firestore-emulator", "pubsub-emulator"):
        if not _gcloud_has(component):
            _unavailable(f"the gcloud component {component} is not installed")
    if not shutil.which("java"):
        _unavailable("java is not installed: the emulators need a JRE")
    started = [
        Emulator("firestore", ["emulators", "firestore", "start", "--quiet"]),
        Emulator("pubsub", ["beta", "emulators", "pubsub", "start", "--quiet", "--project=taops-test"]),
    ]
    try:
        for emulator in started:
            emulator.wait_ready()
        yield {e.name: e.host for e in started}
    finally:
        for emulator in started:
            emulator.stop()


@pytest.fixture
def firestore_env(emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the Firestore client at the emulator; a fresh project id isolates each test."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", emulators["firestore"])
    project = f"taops-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    return project


@pytest.fixture
def pubsub_env(emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulators["pubsub"])
    project = f"taops-test-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", project)
    return project


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def webhook(pubsub_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``make(target, topic, env)``: a test client of a webhook entry point and a probe
    subscription on the topic it publishes to. ``env`` values of None are unset."""
    from functions_framework import create_app

    from shared import clients, pubsub
    from tests.integration.probe import Probe

    probes: list[Probe] = []

    def make(target: str, topic: str, env: dict[str, str | None]) -> tuple[Any, Probe]:
        monkeypatch.setenv("TAOPS_STORE", "embedded")
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        clients.reset()
        pubsub.reset_clients()
        pubsub.ensure_topics(pubsub_env, (topic,))
        probes.append(Probe(pubsub_env, topic))
        return create_app(target, str(ROOT / "main.py"), "http").test_client(), probes[-1]

    yield make
    for probe in probes:
        probe.close()
    clients.reset()
    pubsub.reset_clients()
