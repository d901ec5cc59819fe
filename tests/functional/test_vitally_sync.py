"""The book kept current from Vitally (the ``vitally-sync`` job and ``taops sync vitally``),
on the embedded store, with Vitally's account listing mocked at the HTTP layer in its
documented shapes (``tests/vitally_pages.py``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from functions_framework import create_app

from shared import clients
from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.dispatch import dispatch
from shared.exceptions import TransientError
from shared.handlers import HEALTH_CHANGES
from shared.jobs import tick_event
from shared.processing import DEAD_LETTERS, OUTBOX, PROCESSED, Outcome
from shared.replay import replay
from shared.sources import vitally_sync
from shared.sources.vitally_sync import STATE_ID, SYNC_STATE, RestAccounts, traits_event
from shared.store import EmbeddedStore, Store
from tests.pubsub_events import cloud_event
from tests.vitally_pages import (
    BASE,
    KEY,
    UNKNOWN_ID,
    VitallyAccountsApi,
    account,
    example_pages,
    page,
    rate_limited,
)

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 9, 20, tzinfo=UTC)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch, book_data, policy) -> Store:
    monkeypatch.setenv("TAOPS_STORE", "embedded")
    monkeypatch.setenv("TAOPS_PUBLISH_ACTIONS", "0")
    monkeypatch.setenv("TAOPS_VITALLY_API_KEY", KEY)
    monkeypatch.setenv("TAOPS_VITALLY_BASE_URL", BASE)
    clients.reset()
    import_book(clients.store(), parse_book(book_data), policy)
    yield clients.store()
    clients.reset()


def tick(monkeypatch: pytest.MonkeyPatch, at: str) -> int:
    """A Cloud Scheduler tick of vitally-sync through on_cadence_tick; the HTTP status."""
    monkeypatch.setenv("TAOPS_CLOCK", at)
    app = create_app("on_cadence_tick", str(ROOT / "main.py"), "cloudevent").test_client()
    headers, body = cloud_event(b'{"job": "vitally-sync"}', "cadence-tick")
    return int(app.post("/", headers=headers, data=body).status_code)


def markers(store: Store, kind: str) -> dict[str, dict[str, Any]]:
    return {k: doc for k, doc in store.query(PROCESSED) if doc["type"] == kind}


def sync(store: Store, policy, now: datetime = NOW, **options: Any) -> vitally_sync.SyncReport:
    """One run of the job's code with the dispatcher applying each event."""
    ctx = Context(store=store, policy=policy)
    return vitally_sync.run(
        store,
        policy,
        RestAccounts(clients.http(), BASE, KEY),
        now,
        apply=lambda event: dispatch(ctx, event, now),
        **options,
    )


def test_an_hourly_tick_pages_through_vitally_and_updates_only_what_changed(store, monkeypatch) -> None:
    with respx.mock:
        vitally = VitallyAccountsApi(respx.mock, example_pages())
        assert tick(monkeypatch, "2026-11-22T09:20:00+00:00") == 200
    assert vitally.asked == [None, "cur-2"]

    acme = store.get("accounts", "acme")
    assert (acme["seats_used"], acme["open_tickets"], acme["deployed_version"]) == (11800, 0, "5.2.0")
    assert acme["last_contact"] == "2026-11-02"  # Vitally's 2026-10-30 is older: the book's stays
    assert acme["health_score"] == 3.2
    [(_, change)] = store.query(HEALTH_CHANGES)
    assert (change["account_id"], change["old_category"], change["new_category"]) == ("acme", "green", "red")

    initech = store.get("accounts", "initech")  # found by Vitally's externalId
    assert (initech["versions_behind"], initech["last_contact"]) == (3, "2026-11-20")
    assert initech["seats_used"] == 100  # its seats trait is missing: the book's value stays

    globex = store.get("accounts", "globex")
    assert (globex["seats_used"], globex["seats_licensed"], globex["health_score"]) == (2400, 2500, 3.2)
    assert len(markers(store, "account.traits")) == 2  # Acme and Initech; Globex had nothing new
    assert len(markers(store, "health.changed")) == 1

    state = store.get(SYNC_STATE, STATE_ID)
    assert state["cursor"] is None and state["last_completed_at"] == "2026-11-22T09:20:00Z"
    assert state["last_pass"]["pages"] == 2 and state["last_pass"]["accounts"] == 4
    assert [u["vitally_id"] for u in state["last_pass"]["unknown"]] == [UNKNOWN_ID]
    assert UNKNOWN_ID not in {doc.get("vitally_id") for _, doc in store.query("accounts")}
    assert len(store.query("accounts")) == 3  # reported, not invented
    [(_, tick_marker)] = [(k, d) for k, d in store.query(PROCESSED) if d["type"] == "cadence.tick"]
    assert tick_marker["summary"] == {"pages": 2, "accounts": 4, "changed": 2, "events": 3, "unknown": 1}


def test_the_next_tick_over_unchanged_data_produces_no_event_at_all(store, monkeypatch) -> None:
    later = example_pages()
    for body in later.values():  # Vitally touched every account since (users seen), nothing taops reads
        for item in body["results"]:
            item.update(updatedAt="2026-11-22T10:00:00.000Z", lastSeenTimestamp="2026-11-22T09:59:00.000Z")
    with respx.mock:
        VitallyAccountsApi(respx.mock, example_pages())
        assert tick(monkeypatch, "2026-11-22T09:20:00+00:00") == 200
        before = store.dump()
        VitallyAccountsApi(respx.mock, later)
        assert tick(monkeypatch, "2026-11-22T10:20:00+00:00") == 200
    after = store.dump()
    assert after["accounts"] == before["accounts"]
    assert after.get(OUTBOX) == before.get(OUTBOX)
    new = {k: d["type"] for k, d in after[PROCESSED].items() if k not in before[PROCESSED]}
    assert list(new.values()) == ["cadence.tick"]  # the tick ran; nothing else was an event


def test_a_429_in_the_middle_is_waited_out_as_retry_after_says_and_the_pass_goes_on(store, policy) -> None:
    slept: list[float] = []
    with respx.mock:
        vitally = VitallyAccountsApi(
            respx.mock, example_pages(), fail={"cur-2": [rate_limited("7"), httpx.Response(503)]}
        )
        report = sync(store, policy, sleep=slept.append)
    assert slept == [7.0, 2.0]  # Retry-After, then the backoff's second step for the 5xx
    assert vitally.asked == [None, "cur-2", "cur-2", "cur-2"]
    assert report.complete and report.waited == 9.0
    assert store.get("accounts", "initech")["versions_behind"] == 3
    assert store.get(SYNC_STATE, STATE_ID)["cursor"] is None


def test_a_rate_limit_past_the_budget_fails_the_tick_and_the_retry_resumes_from_the_cursor(
    store, policy
) -> None:
    strict = policy.model_copy(
        update={"vitally": policy.vitally.model_copy(update={"backoff_budget_seconds": 10})}
    )
    ctx = Context(store=store, policy=strict, vitally=lambda: RestAccounts(clients.http(), BASE, KEY))
    event = tick_event("vitally-sync", NOW, NOW, strict)
    with respx.mock:
        vitally = VitallyAccountsApi(respx.mock, example_pages(), fail={"cur-2": [rate_limited("30")]})
        with pytest.raises(TransientError, match="429"):  # raised: Pub/Sub redelivers the tick
            dispatch(ctx, event, NOW)
        assert store.get("accounts", "acme")["seats_used"] == 11800  # the first page is kept
        assert store.get(SYNC_STATE, STATE_ID)["cursor"] == "cur-2"
        assert store.get(PROCESSED, event.marker_id) is None  # released for the redelivery

        result = dispatch(ctx, event, NOW)  # the redelivery
    assert result.outcome is Outcome.APPLIED
    assert vitally.asked == [None, "cur-2", "cur-2"]  # resumed: page one was not read again
    assert store.get("accounts", "initech")["versions_behind"] == 3
    assert store.get(SYNC_STATE, STATE_ID)["cursor"] is None
    assert store.get(PROCESSED, event.marker_id)["summary"]["resumed"] is True


def test_a_run_that_passes_its_time_stops_after_a_page_and_the_next_tick_goes_on(store, policy) -> None:
    ticks = iter([0.0, 500.0])  # started, then after page one
    with respx.mock:
        vitally = VitallyAccountsApi(respx.mock, example_pages())
        first = sync(store, policy, run_seconds=180, clock=lambda: next(ticks))
        assert not first.complete and first.summary()["paused"]
        assert store.get(SYNC_STATE, STATE_ID)["cursor"] == "cur-2"
        second = sync(store, policy, run_seconds=180)
    assert second.complete and vitally.asked == [None, "cur-2"]
    assert [u.vitally_id for u in second.unknown] == [UNKNOWN_ID]
    assert store.get(SYNC_STATE, STATE_ID)["last_pass"]["pages"] == 2  # one pass over two runs


def test_a_saved_cursor_vitally_no_longer_accepts_starts_the_pass_again(store, policy) -> None:
    store.put(SYNC_STATE, STATE_ID, {"cursor": "expired", "pass": {"pages": 7}})
    with respx.mock:
        vitally = VitallyAccountsApi(respx.mock, example_pages())
        report = sync(store, policy)
    assert vitally.asked == ["expired", None, "cur-2"]
    assert report.complete and "starts again" in report.problems[0]
    assert store.get(SYNC_STATE, STATE_ID)["last_pass"]["pages"] == 2


def test_a_trait_that_cannot_be_read_is_reported_and_the_rest_is_applied(store, policy) -> None:
    odd = account("vit-acme", "Acme Corp", score=8.1, traits={"seats_used": "lots", "open_tickets": 5})
    with respx.mock:
        VitallyAccountsApi(respx.mock, {None: page([odd], None)})
        report = sync(store, policy)
    acme = store.get("accounts", "acme")
    assert (acme["seats_used"], acme["open_tickets"]) == (11000, 5)
    assert report.notes() == [
        "Acme Corp (acme): traits.seats_used (seats_used): 'lots' is not a whole number"
    ]


def test_an_older_observation_after_a_newer_one_is_stale_and_ignored(store, policy) -> None:
    ctx = Context(store=store, policy=policy)
    newer = traits_event("vit-acme", "acme", "Acme", {"seats_used": 11900}, NOW, NOW)
    older = traits_event(
        "vit-acme", "acme", "Acme", {"seats_used": 11500}, datetime(2026, 11, 21, tzinfo=UTC), NOW
    )
    assert dispatch(ctx, newer, NOW).outcome is Outcome.APPLIED
    assert dispatch(ctx, older, NOW).outcome is Outcome.STALE
    assert store.get("accounts", "acme")["seats_used"] == 11900


def test_the_same_values_seen_again_later_are_a_new_observation(store, policy) -> None:
    """Seats 11000 → 11900 → 11000: the return to 11000 is applied, not taken for a duplicate."""
    ctx = Context(store=store, policy=policy)
    values = iter([11900, 11000, 11900])
    for hour in (8, 9, 10):
        at = datetime(2026, 11, 22, hour, tzinfo=UTC)
        event = traits_event("vit-acme", "acme", "Acme", {"seats_used": next(values)}, at, at)
        assert dispatch(ctx, event, at).outcome is Outcome.APPLIED
    assert store.get("accounts", "acme")["seats_used"] == 11900


def test_a_dry_run_writes_nothing_and_says_what_would_change(store, policy) -> None:
    before = store.dump()
    with respx.mock:
        VitallyAccountsApi(respx.mock, example_pages())
        report = vitally_sync.run(store, policy, RestAccounts(clients.http(), BASE, KEY), NOW)
    assert store.dump() == before
    assert [a.line() for a in report.accounts] == [
        "Acme Corp (acme): health score 8.1 → 3.2, seats used 11000 → 11800, deployed version unset → 5.2.0, "
        "open tickets 2 → 0",
        "Initech (initech): versions behind 0 → 3, last contact unset → 2026-11-20",
    ]
    assert [u.line() for u in report.unknown] == [
        f"Vitally account {UNKNOWN_ID} (Globex Corporation, externalId acct_10482) is not in the book"
    ]


def test_without_credentials_the_tick_is_kept_and_alerts_the_operators_not_a_retry_loop(
    store, monkeypatch
) -> None:
    monkeypatch.delenv("TAOPS_VITALLY_API_KEY")
    with respx.mock:  # Vitally is never called without a key
        assert tick(monkeypatch, "2026-11-22T09:20:00+00:00") == 200  # acknowledged
        assert tick(monkeypatch, "2026-11-22T09:20:30+00:00") == 200  # the same tick again
    kept = [doc for _, doc in store.query(DEAD_LETTERS)]
    assert kept and all("TAOPS_VITALLY_API_KEY" in doc["reason"] for doc in kept)
    [alert] = [doc for _, doc in store.query(OUTBOX) if doc["kind"] == "ops.alert"]
    assert alert["idempotency_key"] == "ops:vitally-credentials:2026-11-22T09:00:00Z"


def test_vitally_refusing_the_key_is_a_configuration_fault(store, monkeypatch) -> None:
    with respx.mock:
        respx.get(f"{BASE}/resources/accounts").mock(return_value=httpx.Response(401))
        assert tick(monkeypatch, "2026-11-22T09:20:00+00:00") == 200
    [(_, kept)] = store.query(DEAD_LETTERS)
    assert "Vitally refused our credentials" in kept["reason"] and "TAOPS_VITALLY_API_KEY" in kept["reason"]


def test_a_replayed_vitally_sync_tick_never_touches_the_network(book_data, policy) -> None:
    lines = [json.dumps({"at": "2026-11-22T09:20:00Z", "source": "tick", "payload": {"job": "vitally-sync"}})]
    with respx.mock:  # any request would fail the test
        result = replay(lines, parse_book(book_data), policy, store=EmbeddedStore())
        assert not respx.mock.calls
    [step] = result.steps
    assert step.outcome == "applied"
    assert any("replay does not call Vitally" in note for note in step.notes)
    assert SYNC_STATE not in result.state
