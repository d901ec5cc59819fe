"""Sources that go quiet: a watched source silent past ``operations.quiet_after_hours``, or
a Gmail watch that fails to renew or expires, raises one ``ops.alert`` per silence (keyed
``quiet:{source}:{since}``); ticks while it stays silent add nothing; heard again, one
``back`` alert. Replayed with explicit ``source-watch`` ticks, and through the deployed
tick function with Gmail's API mocked in its documented shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import respx
from functions_framework import create_app

from shared import clients
from shared.book import parse_book
from shared.cli import main as taops
from shared.processing import OUTBOX
from shared.quiet import SOURCE_HEARD, heard, source_status
from shared.replay import replay
from shared.store import EmbeddedStore
from tests.functional.test_health import ping
from tests.gmail_messages import line
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
API = "https://gmail.test/gmail/v1"
BOX = "technicaladvisors@example.com"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def watch_tick(when: str) -> str:
    return line(at(when), "tick", {"job": "source-watch"})


@pytest.fixture
def ops_policy(policy):
    ops = policy.operations.model_copy(update={"slack_channel": "C0OPS", "emails": ["ops@example.com"]})
    return policy.model_copy(update={"operations": ops})


def alerts(actions) -> list[tuple[str, str, str]]:
    return [(a["idempotency_key"], a["channel"], a["subject"]) for a in actions if a["kind"] == "ops.alert"]


def test_vitally_silent_past_6_hours_is_one_alert_and_heard_again_is_one_back(book_data, ops_policy) -> None:
    lines = [
        watch_tick("2026-12-01T09:10:00"),  # starts watching the sources never heard
        ping("2026-12-01T10:00:00", "acme", 8.0),
        watch_tick("2026-12-01T15:10:00"),  # 5 h 10: within the limit
        watch_tick("2026-12-01T16:10:00"),  # 6 h 10: quiet
        watch_tick("2026-12-01T17:10:00"),  # still quiet: nothing new
        ping("2026-12-01T19:00:00", "acme", 8.2),
        watch_tick("2026-12-01T19:10:00"),  # back
        watch_tick("2026-12-01T20:10:00"),
    ]
    result = replay(lines, parse_book(book_data), ops_policy)

    since = "2026-12-01T10:00:00Z"
    assert alerts(result.actions) == [
        (f"quiet:vitally:{since}", "C0OPS", "taops: vitally is quiet"),
        (f"back:vitally:{since}", "C0OPS", "taops: vitally is back"),
    ]
    quiet, back = [a for a in result.actions if a["kind"] == "ops.alert"]
    assert quiet["at"] == "2026-12-01T16:10:00Z" and back["at"] == "2026-12-01T19:10:00Z"
    assert "last heard 6.2 hours ago, past its 6-hour limit" in quiet["text"]
    assert quiet["recipients"] == ["ops@example.com"]
    assert result.state["source_alerts"]["vitally"]["quiet_since"] is None
    # Deel (72 h), Salesforce and Gmail (24 h) have been watched since the first tick only.
    assert result.state["source_alerts"]["deel"]["watching_since"] == "2026-12-01T09:10:00Z"


def test_a_source_never_heard_is_quiet_from_when_watching_began(book_data, ops_policy) -> None:
    lines = [watch_tick("2026-12-01T09:10:00"), watch_tick("2026-12-02T10:10:00")]
    result = replay(lines, parse_book(book_data), ops_policy)
    # 25 h on: Vitally (6 h), Salesforce and Gmail (24 h); not Deel (72 h) nor the
    # never-renewed Gmail watch (26 h).
    assert sorted(k for k, _, _ in alerts(result.actions)) == [
        "quiet:gmail:2026-12-01T09:10:00Z",
        "quiet:salesforce:2026-12-01T09:10:00Z",
        "quiet:vitally:2026-12-01T09:10:00Z",
    ]


def test_the_last_heard_time_is_written_at_most_every_five_minutes_per_source(book_data, policy) -> None:
    store = EmbeddedStore()
    result = replay(
        [ping(f"2026-12-01T10:0{m}:00", "acme", 8.0 + m / 10) for m in range(6)],
        parse_book(book_data),
        policy,
    )
    assert result.state[SOURCE_HEARD]["vitally"]["heard_at"] == "2026-12-01T10:05:00Z"
    from shared.events import EventEnvelope

    event = EventEnvelope(
        source="vitally",
        type="health.changed",
        event_id="e1",
        entity_key="account:acme",
        occurred_at=at("2026-12-01T10:00:00"),
        received_at=at("2026-12-01T10:00:00"),
        payload={},
    )
    assert heard(store, event, at("2026-12-01T10:00:00"))
    assert not heard(store, event, at("2026-12-01T10:04:59"))
    assert heard(store, event, at("2026-12-01T10:05:00"))
    assert store.get(SOURCE_HEARD, "vitally")["heard_at"] == "2026-12-01T10:05:00Z"
    # A sync's event says nothing about the webhook.
    assert not heard(store, event.model_copy(update={"type": "vitally.traits"}), at("2026-12-01T11:00:00"))


@pytest.fixture
def deployed(monkeypatch, tmp_path, ops_policy):
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_GMAIL_ACCESS_TOKEN", "ya29.test")
    monkeypatch.setenv("TAOPS_GMAIL_API_BASE", API)
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps(ops_policy.model_dump(mode="json")))
    monkeypatch.setenv("TAOPS_POLICY", str(path))
    clients.reset()
    app = create_app("on_cadence_tick", str(ROOT / "main.py"), "cloudevent").test_client()

    def tick(job: str, when: str) -> None:
        headers, body = cloud_event(json.dumps({"job": job, "at": when}).encode(), "cadence-tick")
        assert app.post("/", headers=headers, data=body).status_code == 200

    yield tick
    clients.reset()


def outbox_alerts() -> list[str]:
    docs = [doc for _, doc in clients.store().query(OUTBOX) if doc["kind"] == "ops.alert"]
    return sorted(doc["idempotency_key"] for doc in docs)


@respx.mock
def test_a_gmail_watch_that_fails_to_renew_is_one_alert_until_a_renewal_works(deployed, ops_policy) -> None:
    watch = respx.post(f"{API}/users/{BOX}/watch")
    watch.mock(return_value=httpx.Response(403, json={"error": {"code": 403, "message": "Forbidden"}}))
    deployed("gmail-watch", "2026-12-01T06:00:00Z")
    deployed("source-watch", "2026-12-01T06:10:00Z")
    deployed("source-watch", "2026-12-01T07:10:00Z")
    # The job runs at the wall clock's time (the tick's "at" only names its slot).
    [quiet] = [k for k in outbox_alerts() if k.startswith("quiet:gmail-watch:")]
    since = quiet.removeprefix("quiet:gmail-watch:")
    assert clients.store().get(SOURCE_HEARD, "gmail-watch")["failed_at"] == since

    expires = datetime.now(UTC) + timedelta(days=7)
    ms = str(int(expires.timestamp() * 1000))
    watch.mock(return_value=httpx.Response(200, json={"historyId": "99", "expiration": ms}))
    deployed("gmail-watch", "2026-12-02T06:00:00Z")
    deployed("source-watch", "2026-12-02T06:10:00Z")
    deployed("source-watch", "2026-12-02T07:10:00Z")
    assert [k for k in outbox_alerts() if "gmail-watch" in k] == [f"back:gmail-watch:{since}", quiet]

    # Not renewed again: once the expiration passes, the watch is broken once more.
    later = expires + timedelta(seconds=1)
    [row] = [r for r in source_status(clients.store(), ops_policy, later) if r.source == "gmail-watch"]
    assert row.quiet and "expired" in row.reason
    assert row.since == clients.store().get(SOURCE_HEARD, "gmail-watch")["expiration"]


def test_taops_sources_prints_each_source_and_whether_it_is_quiet(
    tmp_path, capsys, book_data, policy
) -> None:
    spec = f"embedded:{tmp_path / 'state.json'}"
    store = EmbeddedStore(tmp_path / "state.json")
    store.put(SOURCE_HEARD, "deel", {"source": "deel", "heard_at": "2026-12-01T10:00:00Z"})
    store.close()
    assert taops(["sources", "--store", spec, "--at", "2026-12-04T11:00:00Z"]) == 0
    out = capsys.readouterr().out.splitlines()
    [deel] = [row for row in out if row.startswith("deel")]
    assert "2026-12-01T10:00:00" in deel and "72h" in deel and "QUIET" in deel
    assert "last heard 73 hours ago, past its 72-hour limit" in deel
    assert out[-1] == "5 source(s) watched, 1 quiet"
