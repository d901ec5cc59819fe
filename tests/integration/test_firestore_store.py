"""The store contract and the exactly-once core on the real Firestore emulator."""

from __future__ import annotations

import pytest

from shared.processing import OUTBOX, PROCESSED
from shared.store.firestore import FirestoreStore
from tests.scenarios import expected_state, make_events, run_concurrent, run_sequential
from tests.store_contract import StoreContract


class TestFirestoreStoreContract(StoreContract):
    @pytest.fixture
    def store(self, firestore_env: str) -> FirestoreStore:
        store = FirestoreStore(project=firestore_env)
        yield store
        store.close()

    @pytest.fixture
    def other_store(self, firestore_env: str) -> FirestoreStore:
        other = FirestoreStore(project=firestore_env)  # a second function instance
        yield other
        other.close()


def test_eight_threads_and_200_interleaved_events_match_a_sequential_run(firestore_env: str) -> None:
    events = make_events(seed=2026, count=200)
    # Two store handles stand for two function instances: their transactions really
    # contend in Firestore (each instance runs one transaction at a time itself).
    concurrent = FirestoreStore(project=firestore_env)
    instances = [concurrent, FirestoreStore(project=firestore_env)]
    sequential = FirestoreStore(project=firestore_env + "-seq")
    run_sequential(sequential, events)
    results = run_concurrent(instances, events, threads=8)

    expected = expected_state(events)
    assert concurrent.dump()["accounts"] == sequential.dump()["accounts"] == expected
    assert {r.event_id for r in results} == {e.event_id for e in events}
    markers = concurrent.query(PROCESSED)
    assert sorted(i for i, _ in markers) == sorted({f"taops:{e.event_id}" for e in events})
    keys = [doc["idempotency_key"] for _, doc in concurrent.query(OUTBOX)]
    tallies = {e.event_id for e in events if e.type == "tally"}
    assert len(keys) == len(set(keys)) == len(tallies)
    assert sorted(keys) == sorted(doc["idempotency_key"] for _, doc in sequential.query(OUTBOX))


def test_the_ttl_field_is_stored_as_a_firestore_timestamp(firestore_env: str) -> None:
    from datetime import datetime

    store = FirestoreStore(project=firestore_env)
    store.put("processed_events", "x", {"expire_at": "2026-12-22T10:00:00Z"})
    raw = store.client.collection("processed_events").document("x").get().to_dict()
    assert isinstance(raw["expire_at"], datetime)
    assert store.get("processed_events", "x") == {"expire_at": "2026-12-22T10:00:00Z"}
