"""The integration tier runs against the real Firestore and Pub/Sub emulators.

A session fixture starts each emulator from the gcloud SDK on a free port, in its own
process group (gcloud starts a Java child that would otherwise outlive the tests), and
stops the whole group afterwards. Without gcloud the tier is skipped with the reason,
unless TAOPS_REQUIRE_EMULATORS=1, where a missing emulator fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.localrun import StartError, emulator, missing_tools

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = os.environ.get("TAOPS_REQUIRE_EMULATORS") == "1"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"TAOPS_REQUIRE_EMULATORS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def emulators() -> Iterator[dict[str, str]]:
    """Start both emulators once per session; yields their host:port by name."""
    reason = missing_tools()
    if reason:
        _unavailable(reason)
    started = [emulator("firestore", "taops-test"), emulator("pubsub", "taops-test")]
    try:
        for service in started:
            try:
                service.wait_ready()
            except StartError as exc:
                _unavailable(str(exc))
        yield {s.name: s.host for s in started}
    finally:
        for service in started:
            service.stop()


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


@pytest.fixture
def deployed(emulators: dict[str, str], monkeypatch: pytest.MonkeyPatch, book_data: Any, policy: Any) -> Any:
    """Every function of taops on the emulators, fed line by line (``tests.integration.deployed``)."""
    from tests.integration.deployed import deploy

    yield from deploy(emulators, monkeypatch, book_data, policy)
