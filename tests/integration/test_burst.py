"""A burst through `taops dev` (the emulators, every function served, push subscriptions
with the deployed retry policy) accounted for exactly: each call applied, duplicate,
stale or dead-lettered, once, and no action decided or published twice. Then the same
with the Firestore emulator unavailable for 10 s in the middle of the burst.

The traffic and the accounting are ``tests/burst_traffic.py`` (``bench/burst.py`` runs
2,000 calls with figures). Bounded: a fixed number of calls, a deadline for the pipeline
to drain, and traffic only to the pipeline's ports on 127.0.0.1.

Why the Firestore emulator is paused (SIGSTOP on its process group, SIGCONT 10 s later)
rather than stopped and started again: the emulator keeps its data in memory only, so a
restarted emulator is an empty database, which is not what an outage of Firestore is
(the data is still there when it comes back). A paused process accepts connections and
answers nothing, like a database that stopped answering: every function's call to it
waits, then times out or is answered late, and Pub/Sub redelivers what was not
acknowledged.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.dev.pipeline import DevPipeline
from tests import burst_traffic as burst
from tests.integration.dev_pipeline import demo_book, running

PROJECT = "taops-local"
CALLS = 100
PAUSED_CALLS = 60
PAUSE_S = 10.0
# The pipeline drains within this; past it the test fails naming what is missing.
SETTLE_S = 420.0


@pytest.fixture
def pipeline(emulators: dict[str, str], tmp_path: Path) -> Iterator[DevPipeline]:
    # ``emulators``: the tier's check that gcloud, both emulators and Java are there.
    with running(tmp_path / "dev") as started:
        yield started


def _burst(
    pipeline: DevPipeline, count: int, during: threading.Thread | None = None
) -> tuple[burst.Accounting, list[burst.Call]]:
    calls = burst.plan(count, demo_book(), pipeline.mailbox)
    probe = burst.ActionsProbe(PROJECT, "actions-burst-probe")
    try:
        target = burst.Target(pipeline.urls, pipeline.env, pipeline.gmail_url, pipeline.mailbox)
        if during is not None:
            during.start()
        burst.post(calls, target, burst.marker_exists(PROJECT))
        if during is not None:
            during.join()
        logs = [Path(p) for p in pipeline.logs().values()]
        state, outcomes = burst.settle(calls, pipeline.mailbox, PROJECT, lambda: logs, SETTLE_S)
    finally:
        probe.close()
    result = burst.account(
        calls,
        pipeline.mailbox,
        state["processed_events"],
        state["entity_versions"],
        state["dead_letters"],
        list(state["outbox"].values()),
        probe.published(),
        outcomes,
    )
    assert result.problems == [], "\n".join(result.problems[:30])
    roles = Counter(c.role for c in calls)
    # Exactly: each call in one category, each planned one where it was planned.
    assert result.total("dead-lettered") == roles["bad"]
    assert result.total("duplicate") == roles["duplicate"]
    assert result.total("stale") == roles["late"] + result.unplanned_stale
    assert result.total("applied") == roles["new"] - result.unplanned_stale
    assert sum(result.table.values()) == count
    # Every new event is one distinct event, nothing more: a duplicate is not a new event.
    assert result.events == roles["new"] + roles["late"]
    assert result.actions > 0 and sum(probe.published().values()) > 0
    return result, calls


def test_a_burst_is_accounted_for_exactly_and_no_action_is_doubled(pipeline: DevPipeline) -> None:
    result, _ = _burst(pipeline, CALLS)
    for kind in ("deel", "salesforce", "vitally", "gmail"):
        assert result.count(kind, "applied") > 0, kind


def test_firestore_unavailable_mid_burst_loses_nothing_and_doubles_nothing(pipeline: DevPipeline) -> None:
    firestore = next(s for s in pipeline.services if s.name == "firestore")
    paused: list[float] = []  # when the outage began and ended (epoch seconds)

    def outage() -> None:
        time.sleep(3)  # the burst is under way
        os.killpg(firestore.proc.pid, signal.SIGSTOP)
        paused.append(time.time())
        try:
            time.sleep(PAUSE_S)
        finally:
            os.killpg(firestore.proc.pid, signal.SIGCONT)
            paused.append(time.time())

    result, calls = _burst(pipeline, PAUSED_CALLS, threading.Thread(target=outage))
    began, ended = paused
    assert ended - began >= PAUSE_S
    # The outage met events in flight: answered before it began, applied after it ended
    # (each still exactly once: ``_burst`` checked every call).
    in_flight = [
        c
        for c in calls
        if c.n in result.applied_at and c.answered_at < began and result.applied_at[c.n] > ended
    ]
    assert in_flight
