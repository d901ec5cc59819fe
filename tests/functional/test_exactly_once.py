"""The one process path: duplicates change nothing, stale updates are recorded and
ignored, the rest commit atomically; entry points ack permanent errors and retry transient ones."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from functions.consumers import consume
from shared import clients
from shared.bootstrap import Context
from shared.dispatch import EVENT_HANDLERS, dispatch
from shared.events import EventEnvelope
from shared.exceptions import PermanentError, TransientError
from shared.models import utc_text
from shared.processing import (
    DEAD_LETTERS,
    OUTBOX,
    PROCESSED,
    Decision,
    Outcome,
    Put,
    process,
)
from shared.store import EmbeddedStore
from tests.scenarios import (
    NOW,
    expected_state,
    make_events,
    run_concurrent,
    run_sequential,
    tally_handler,
)


def tally(event_id: str, amount: int = 5, account: str = "acme") -> EventEnvelope:
    return EventEnvelope(
        source="taops",
        type="tally",
        event_id=event_id,
        entity_key=f"tally:{event_id}",
        occurred_at=NOW,
        received_at=NOW,
        payload={"account": account, "amount": amount},
    )


def score(event_id: str, minutes_ago: int, value: float) -> EventEnvelope:
    version = NOW - timedelta(minutes=minutes_ago)
    return EventEnvelope(
        source="taops",
        type="score",
        event_id=event_id,
        entity_key="score:acme",
        source_version=version,
        occurred_at=version,
        received_at=NOW,
        payload={"account": "acme", "score": value},
    )


@pytest.fixture
def store() -> EmbeddedStore:
    return EmbeddedStore()


def test_a_redelivered_event_changes_nothing(store: EmbeddedStore) -> None:
    first = process(store, tally("e1"), tally_handler, NOW)
    before = store.dump()
    second = process(store, tally("e1"), tally_handler, NOW + timedelta(minutes=5))
    assert (first.outcome, second.outcome) == (Outcome.APPLIED, Outcome.DUPLICATE)
    assert store.dump() == before
    assert store.get("accounts", "acme")["tally"] == 5
    assert len(store.query(OUTBOX)) == 1


def test_an_older_update_arriving_late_is_recorded_and_ignored(store: EmbeddedStore) -> None:
    process(store, score("new", minutes_ago=10, value=3.0), tally_handler, NOW)
    late = process(store, score("old", minutes_ago=60, value=9.0), tally_handler, NOW)
    assert late.outcome is Outcome.STALE
    assert store.get("accounts", "acme")["score"] == 3.0
    marker = store.get(PROCESSED, "taops:old")
    assert marker["outcome"] == "stale" and marker["stale_behind"] == utc_text(NOW - timedelta(minutes=10))
    # and the stale event, redelivered, is now a duplicate
    assert process(store, score("old", 60, 9.0), tally_handler, NOW).outcome is Outcome.DUPLICATE


def test_a_newer_update_replaces_the_stored_version(store: EmbeddedStore) -> None:
    process(store, score("a", minutes_ago=60, value=9.0), tally_handler, NOW)
    assert process(store, score("b", minutes_ago=5, value=2.0), tally_handler, NOW).outcome is Outcome.APPLIED
    assert store.get("accounts", "acme")["score"] == 2.0
    assert store.get("entity_versions", "taops:score:acme")["event_id"] == "b"


def test_an_action_already_in_the_outbox_is_not_queued_again(store: EmbeddedStore) -> None:
    from shared.models import Action

    def same_action(view, event, now) -> Decision:
        return Decision(
            actions=[Action(kind="email.send", at=now, reason="once", idempotency_key="ooo:a1:share")]
        )

    process(store, tally("e1"), same_action, NOW)
    store.put(OUTBOX, store.query(OUTBOX)[0][0], {**store.query(OUTBOX)[0][1], "status": "published"})
    again = process(store, tally("e2"), same_action, NOW)
    assert again.outcome is Outcome.APPLIED and again.new_actions == []
    [(_, doc)] = store.query(OUTBOX)
    assert doc["status"] == "published"  # not reset by the second derivation


def test_a_handler_failure_commits_nothing(store: EmbeddedStore) -> None:
    def broken(view, event, now) -> Decision:
        raise TransientError("Vitally answered 503")

    with pytest.raises(TransientError):
        process(store, tally("e1"), broken, NOW)
    assert store.dump() == {}


def test_concurrent_delivery_ends_in_the_sequential_state(store: EmbeddedStore) -> None:
    events = make_events(seed=11)
    reference = EmbeddedStore()
    run_sequential(reference, events)
    run_concurrent([store], events, threads=8)
    assert store.dump()["accounts"] == reference.dump()["accounts"] == expected_state(events)
    assert set(store.dump()[PROCESSED]) == {f"taops:{e.event_id}" for e in events}
    keys = [doc["idempotency_key"] for _, doc in store.query(OUTBOX)]
    assert len(keys) == len(set(keys)) == len({e.event_id for e in events if e.type == "tally"})


# -- the dispatcher: what every entry point does with each outcome ---------------------------


@pytest.fixture
def ctx(store: EmbeddedStore, policy, monkeypatch: pytest.MonkeyPatch) -> Context:
    """A context whose registry knows the workload's event types (the real registry, extended)."""
    monkeypatch.setitem(EVENT_HANDLERS, "tally", lambda policy: tally_handler)
    monkeypatch.setitem(EVENT_HANDLERS, "score", lambda policy: tally_handler)
    return Context(store=store, policy=policy, function="on_test")


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_a_malformed_event_is_acknowledged_logged_and_kept(monkeypatch, capsys) -> None:
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    clients.reset()
    raw = b'{"source": "taops", "type": "tally"}'
    headers_and_body = {
        "message": {"data": base64.b64encode(raw).decode(), "attributes": {"event_id": "m-1"}}
    }
    assert consume(headers_and_body, function="on_test", source="taops") is None
    store = clients.store()
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert kept["raw"] == raw.decode() and kept["event_id"] == "m-1" and "event_id" in kept["reason"]
    [line] = _lines(capsys)
    assert line["severity"] == "ERROR" and line["event_id"] == "m-1" and line["function"] == "on_test"
    assert raw.decode() not in json.dumps(line)  # the body is kept, never logged
    assert set(store.dump()) == {DEAD_LETTERS}
    clients.reset()


def test_an_unknown_person_is_permanent_and_leaves_no_marker(ctx: Context, monkeypatch, capsys) -> None:
    def unknown(view, event, now) -> Decision:
        raise PermanentError("requester zed@example.com is not in the directory")

    monkeypatch.setitem(EVENT_HANDLERS, "tally", lambda policy: unknown)
    result = dispatch(ctx, tally("e9"), NOW)
    assert result.outcome is Outcome.REJECTED and "zed@example.com" in result.reason
    assert ctx.store.query(PROCESSED) == []
    [(_, kept)] = ctx.store.query(DEAD_LETTERS)
    assert kept["event_id"] == "e9"
    assert _lines(capsys)[-1]["reason"] == "requester zed@example.com is not in the directory"


def test_an_unexpected_error_in_a_handler_is_bad_input_not_a_retry(ctx: Context, monkeypatch, capsys) -> None:
    def overflowing(view, event, now) -> Decision:
        raise OverflowError("date value out of range")

    monkeypatch.setitem(EVENT_HANDLERS, "tally", lambda policy: overflowing)
    result = dispatch(ctx, tally("e4"), NOW)
    assert result.outcome is Outcome.REJECTED and result.reason == "OverflowError: date value out of range"
    [(_, kept)] = ctx.store.query(DEAD_LETTERS)
    assert kept["event_id"] == "e4"
    line = _lines(capsys)[-1]
    assert line["severity"] == "ERROR" and line["fault"] == "bad_input" and line["at"]


def test_a_transient_fault_is_raised_for_retry_and_logged(ctx: Context, monkeypatch, capsys) -> None:
    def flaky(view, event, now) -> Decision:
        raise TransientError("Firestore contention")

    monkeypatch.setitem(EVENT_HANDLERS, "tally", lambda policy: flaky)
    with pytest.raises(TransientError):
        dispatch(ctx, tally("e3"), NOW)
    assert ctx.store.dump() == {}
    line = _lines(capsys)[-1]
    assert line["severity"] == "WARNING" and line["retry"] is True and line["event_id"] == "e3"


def test_an_applied_event_logs_its_notes_and_actions_in_one_line(ctx: Context, capsys) -> None:
    result = dispatch(ctx, tally("e5", amount=3), NOW)
    assert result.outcome is Outcome.APPLIED
    [line] = [entry for entry in _lines(capsys) if entry["message"] == "event applied"]
    [action] = result.new_actions
    assert line["event_id"] == "e5" and line["event_type"] == "tally"
    assert line["actions"] == [{"id": action.id, "kind": "slack.message", "recipients": ["ana@example.com"]}]
    # How long it took to decide and commit, for the operators' latency view.
    assert isinstance(line["processing_ms"], float) and line["processing_ms"] >= 0


def test_the_same_id_with_a_different_payload_is_a_conflict_kept_not_a_silent_duplicate(
    ctx: Context, capsys
) -> None:
    assert dispatch(ctx, tally("e6", amount=3), NOW).outcome is Outcome.APPLIED
    assert dispatch(ctx, tally("e6", amount=3), NOW).outcome is Outcome.DUPLICATE
    again = dispatch(ctx, tally("e6", amount=9), NOW)
    assert again.outcome is Outcome.CONFLICT
    assert ctx.store.get("accounts", "acme")["tally"] == 3  # the second payload was not applied
    [(_, kept)] = ctx.store.query(DEAD_LETTERS)
    assert kept["reason"].startswith("idempotency conflict") and '"amount":9' in kept["raw"]
    assert any(
        entry["severity"] == "ERROR" and "different payload" in entry["message"] for entry in _lines(capsys)
    )


def test_an_update_versioned_more_than_a_day_ahead_is_refused(ctx: Context) -> None:
    future = score("s9", minutes_ago=-(2 * 24 * 60), value=1.0)
    result = dispatch(ctx, future, NOW)
    assert result.outcome is Outcome.REJECTED and "more than a day after" in result.reason
    # ...so a real, later update of the same entity is still applied.
    assert dispatch(ctx, score("s10", minutes_ago=0, value=2.0), NOW).outcome is Outcome.APPLIED


def test_processed_events_carry_an_expiry_for_the_ttl_policy(store: EmbeddedStore, policy) -> None:
    process(store, tally("e1"), tally_handler, NOW, retention_days=policy.events.marker_retention_days)
    marker = store.get(PROCESSED, "taops:e1")
    assert marker["expire_at"] == utc_text(NOW + timedelta(days=30))


def test_a_decision_may_write_several_documents_atomically(store: EmbeddedStore) -> None:
    def two_writes(view, event, now) -> Decision:
        return Decision([Put("a", "1", {"x": 1}), Put("b", "2", {"y": 2})])

    process(store, tally("e1"), two_writes, NOW)
    assert store.get("a", "1") == {"x": 1} and store.get("b", "2") == {"y": 2}


def test_a_decision_too_large_for_one_commit_is_refused_with_its_size_and_kept(
    ctx: Context, monkeypatch, capsys
) -> None:
    # 300 documents of 15 KB: more than one Firestore request carries (4 MiB on the
    # emulator). Retried, it would fail the same way every time.
    def huge(view, event, now) -> Decision:
        return Decision([Put("plans", f"p{n:03d}", {"text": "x" * 15_000}) for n in range(300)])

    def many_small(view, event, now) -> Decision:
        return Decision([Put("plans", f"s{n:03d}", {"text": "x" * 100}) for n in range(300)])

    monkeypatch.setitem(EVENT_HANDLERS, "tally", lambda policy: huge)
    result = dispatch(ctx, tally("e11"), NOW)
    assert result.outcome is Outcome.REJECTED
    assert result.reason.startswith("the decision is too large to commit at once: 300 writes, about 4,")
    assert ctx.store.query("plans") == [] and ctx.store.query(PROCESSED) == []
    [(_, kept)] = ctx.store.query(DEAD_LETTERS)
    assert kept["event_id"] == "e11"
    monkeypatch.setitem(EVENT_HANDLERS, "tally", lambda policy: many_small)
    assert dispatch(ctx, tally("e12"), NOW).outcome is Outcome.APPLIED
    assert len(ctx.store.query("plans")) == 300
