"""The state store contract, run against every adapter.

A subclass provides a ``store`` fixture (a fresh, empty store) and an ``other_store``
fixture (a second handle on the same state, as a second function instance would hold);
every test here then runs on them. The embedded store runs it in ``tests/functional``,
Firestore on the emulator in ``tests/integration``.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.exceptions import StoreError
from shared.store import AlreadyExistsError, Store, Transaction, Where

DOC = {
    "name": "Acme Corp",
    "arr": 420000.5,
    "developers": 12000,
    "lighthouse_active": False,
    "save_plan": None,
    "champions": ["jo@acme.test", "kim@acme.test"],
    "nested": {"health": {"category": "green", "score": 8.1}, "empty": []},
    "unicode": "Zürich – 東京",
    "expire_at": "2026-12-22T10:00:00.123456Z",
}


class StoreContract:
    def test_a_missing_document_reads_as_none(self, store: Store) -> None:
        assert store.get("accounts", "nobody") is None

    def test_a_document_round_trips_exactly(self, store: Store) -> None:
        store.put("accounts", "acme", DOC)
        assert store.get("accounts", "acme") == DOC

    def test_set_replaces_the_whole_document(self, store: Store) -> None:
        store.put("accounts", "acme", DOC)
        store.put("accounts", "acme", {"name": "Acme"})
        assert store.get("accounts", "acme") == {"name": "Acme"}

    def test_delete_removes_the_document(self, store: Store) -> None:
        store.put("accounts", "acme", DOC)
        store.run_transaction(lambda tx: tx.delete("accounts", "acme"))
        assert store.get("accounts", "acme") is None

    def test_query_filters_and_orders_by_id(self, store: Store) -> None:
        store.put_many(
            [
                ("accounts", "c", {"ta": "ana@example.com", "arr": 300, "tier": "x"}),
                ("accounts", "a", {"ta": "ana@example.com", "arr": 100}),
                ("accounts", "b", {"ta": "ben@example.com", "arr": 200}),
                ("accounts", "d", {"ta": "ana@example.com", "arr": 50}),
            ]
        )
        ids = [i for i, _ in store.query("accounts", Where("ta", "==", "ana@example.com"))]
        assert ids == ["a", "c", "d"]
        assert [i for i, _ in store.query("accounts", Where("arr", ">=", 100))] == ["a", "b", "c"]
        assert [i for i, _ in store.query("accounts", Where("arr", "<", 200))] == ["a", "d"]
        assert [i for i, _ in store.query("accounts", Where("ta", "in", ["ben@example.com"]))] == ["b"]
        assert [i for i, _ in store.query("accounts", Where("tier", "==", "x"))] == ["c"]
        both = store.query("accounts", Where("ta", "==", "ana@example.com"), Where("arr", ">", 60))
        assert [i for i, _ in both] == ["a", "c"]

    def test_an_equality_query_follows_documents_as_they_change(self, store: Store) -> None:
        def pending() -> list[str]:
            return [i for i, _ in store.query("outbox", Where("status", "==", "pending"))]

        store.put_many([("outbox", "a", {"status": "pending"}), ("outbox", "b", {"status": "sent"})])
        assert pending() == ["a"]
        store.put("outbox", "b", {"status": "pending"})
        store.put("outbox", "a", {"status": "sent"})
        assert pending() == ["b"]
        store.put("outbox", "c", {"status": "pending"})
        store.put("outbox", "b", {"note": "no status any more"})
        assert pending() == ["c"]
        store.run_transaction(lambda tx: tx.delete("outbox", "c"))
        assert pending() == []
        store.put("outbox", "d", {"status": ["pending"]})
        assert pending() == []
        assert [i for i, _ in store.query("outbox", Where("status", "==", ["pending"]))] == ["d"]

    def test_query_limit_keeps_the_first_ids(self, store: Store) -> None:
        store.put_many([("outbox", f"a{i}", {"status": "pending"}) for i in range(5)])
        assert [i for i, _ in store.query("outbox", Where("status", "==", "pending"), limit=2)] == [
            "a0",
            "a1",
        ]

    def test_limit_with_a_range_filter_is_refused(self, store: Store) -> None:
        with pytest.raises(StoreError, match="limit"):
            store.query("outbox", Where("n", ">", 1), limit=2)

    def test_array_contains_matches_list_members_only(self, store: Store) -> None:
        store.put_many(
            [
                ("people", "d", {"teams": ["red"], "role": "TA"}),
                ("people", "b", {"teams": "red", "role": "TA"}),  # a scalar equal to the value
                ("people", "a", {"teams": ["blue", "red"], "role": "AE"}),
                ("people", "c", {"teams": ["blue"], "role": "TA"}),
                ("people", "e", {"teams": ["red", "red"], "role": "TA"}),
                ("people", "f", {"role": "TA"}),
            ]
        )
        red = Where("teams", "array_contains", "red")
        assert [i for i, _ in store.query("people", red)] == ["a", "d", "e"]
        assert [i for i, _ in store.query("people", red, Where("role", "==", "TA"))] == ["d", "e"]
        assert [i for i, _ in store.query("people", red, limit=1)] == ["a"]
        assert [i for i, _ in store.query("people", red, Where("role", "==", "TA"), limit=1)] == ["d"]
        assert store.query("people", Where("teams", "array_contains", "green")) == []

    def test_array_contains_compares_members_as_equality_does(self, store: Store) -> None:
        store.put_many(
            [
                ("c", "float", {"xs": [1.0]}),
                ("c", "int", {"xs": [2, 1]}),
                ("c", "bool", {"xs": [True]}),
                ("c", "map", {"xs": [{"k": 1}, "s"]}),
            ]
        )
        assert [i for i, _ in store.query("c", Where("xs", "array_contains", 1))] == ["float", "int"]
        assert [i for i, _ in store.query("c", Where("xs", "array_contains", True))] == ["bool"]
        assert [i for i, _ in store.query("c", Where("xs", "array_contains", {"k": 1}))] == ["map"]

    def test_an_array_contains_query_follows_documents_as_they_change(self, store: Store) -> None:
        def tagged() -> list[str]:
            return [i for i, _ in store.query("c", Where("tags", "array_contains", "x"))]

        store.put_many([("c", "a", {"tags": ["x"]}), ("c", "b", {"tags": ["y"]})])
        assert tagged() == ["a"]
        store.put("c", "b", {"tags": ["y", "x"]})
        store.put("c", "a", {"tags": "x"})
        assert tagged() == ["b"]
        store.run_transaction(lambda tx: tx.delete("c", "b"))
        assert tagged() == []

    def test_two_array_contains_filters_are_refused(self, store: Store) -> None:
        with pytest.raises(StoreError, match="array_contains"):
            store.query("c", Where("xs", "array_contains", 1), Where("ys", "array_contains", 2))

    def test_a_range_matches_values_of_its_own_type_only(self, store: Store) -> None:
        store.put_many(
            [
                ("c", "int", {"n": 1}),
                ("c", "float", {"n": 1.5}),
                ("c", "true", {"n": True}),
                ("c", "false", {"n": False}),
                ("c", "text", {"n": "2"}),
                ("c", "none", {"n": None}),
                ("c", "list", {"n": [1]}),
                ("c", "map", {"n": {"a": 1}}),
                ("c", "missing", {"m": 1}),
            ]
        )

        def ids(*where: Where) -> list[str]:
            return [i for i, _ in store.query("c", *where)]

        assert ids(Where("n", "<", 3)) == ["float", "int"]
        assert ids(Where("n", ">=", 1.5)) == ["float"]
        assert ids(Where("n", ">", 1)) == ["float"]
        assert ids(Where("n", ">=", False)) == ["false", "true"]
        assert ids(Where("n", ">", "1")) == ["text"]
        assert ids(Where("n", ">", 0), Where("n", "<=", 1)) == ["int"]
        assert ids(Where("n", "==", 1)) == ["int"]  # a boolean is never a number
        assert ids(Where("n", "==", True)) == ["true"]

    def test_a_range_query_follows_documents_as_they_change(self, store: Store) -> None:
        def due(now: str) -> list[str]:
            return [i for i, _ in store.query("timers", Where("due_at", "<=", now))]

        store.put_many(
            [
                ("timers", "a", {"due_at": "2026-03-02T09:00:00Z"}),
                ("timers", "b", {"due_at": "2026-03-01T09:00:00Z"}),
                ("timers", "c", {"due_at": "2026-03-03T09:00:00Z"}),
            ]
        )
        assert due("2026-03-02T09:00:00Z") == ["a", "b"]
        store.put("timers", "c", {"due_at": "2026-03-01T08:00:00Z"})
        store.put("timers", "a", {"due_at": None})
        assert due("2026-03-02T09:00:00Z") == ["b", "c"]
        store.run_transaction(lambda tx: tx.delete("timers", "b"))
        store.put("timers", "d", {"due_at": "2026-03-02T09:00:00Z"})
        assert due("2026-03-02T09:00:00Z") == ["c", "d"]

    def test_an_equality_and_a_range_filter_combine(self, store: Store) -> None:
        store.put_many(
            [("timers", f"t{i}", {"job": "sla-check" if i % 3 else "other", "due_at": i}) for i in range(12)]
        )
        both = store.query("timers", Where("job", "==", "sla-check"), Where("due_at", "<=", 5))
        assert [i for i, _ in both] == ["t1", "t2", "t4", "t5"]
        wide = store.query("timers", Where("job", "==", "other"), Where("due_at", ">", -1))
        assert [i for i, _ in wide] == ["t0", "t3", "t6", "t9"]

    @pytest.mark.parametrize("value", [None, [1], {"a": 1}])
    def test_a_range_filter_on_a_value_without_order_is_refused(self, store: Store, value: object) -> None:
        with pytest.raises(StoreError):
            store.query("c", Where("n", "<", value))

    def test_a_failing_transaction_writes_nothing(self, store: Store) -> None:
        def body(tx: Transaction) -> None:
            tx.set("accounts", "acme", DOC)
            tx.set("people", "ana@example.com", {"name": "Ana"})
            raise RuntimeError("handler blew up")

        with pytest.raises(RuntimeError):
            store.run_transaction(body)
        assert store.get("accounts", "acme") is None
        assert store.get("people", "ana@example.com") is None

    def test_reading_after_writing_in_a_transaction_is_refused(self, store: Store) -> None:
        def body(tx: Transaction) -> None:
            tx.set("accounts", "acme", DOC)
            tx.get("accounts", "acme")

        with pytest.raises(StoreError, match="read after write"):
            store.run_transaction(body)
        assert store.get("accounts", "acme") is None

    def test_create_over_an_existing_document_fails_and_writes_nothing_else(self, store: Store) -> None:
        store.put("outbox", "act1", {"status": "pending"})

        def body(tx: Transaction) -> None:
            tx.set("accounts", "acme", DOC)
            tx.create("outbox", "act1", {"status": "other"})

        with pytest.raises(AlreadyExistsError):
            store.run_transaction(body)
        assert store.get("outbox", "act1") == {"status": "pending"}
        assert store.get("accounts", "acme") is None

    def test_get_many_reads_each_document_by_id_as_get_does(self, store: Store) -> None:
        store.put("people", "ana@example.com", {"name": "Ana"})
        store.put("people", "ben@example.com", DOC)
        wanted = ["ben@example.com", "nobody@example.com", "ana@example.com", "ben@example.com"]
        found = store.run_transaction(lambda tx: tx.get_many("people", wanted))
        ana = {"name": "Ana"}
        assert found == {"ben@example.com": DOC, "nobody@example.com": None, "ana@example.com": ana}

    def test_get_all_reads_documents_of_several_collections_by_id(self, store: Store) -> None:
        store.put("people", "ana@example.com", {"name": "Ana"})
        store.put("absences", "pto-1", DOC)
        wanted = [
            ("absences", "pto-1"),
            ("people", "ana@example.com"),
            ("people", "x"),
            ("absences", "pto-1"),
        ]
        found = store.run_transaction(lambda tx: tx.get_all(wanted))
        assert found == {
            ("absences", "pto-1"): DOC,
            ("people", "ana@example.com"): {"name": "Ana"},
            ("people", "x"): None,
        }

    def test_documents_read_by_get_all_lose_no_concurrent_update(
        self, store: Store, other_store: Store
    ) -> None:
        # Read in one batch across collections, each is read as the transaction: a
        # concurrent writer of one makes this transaction run again, not overwrite it.
        store.put("counters", "a", {"n": 0})
        store.put("tallies", "b", {"n": 0})
        barrier = threading.Barrier(2)

        def increment(handle: Store) -> None:
            first_attempt = [True]

            def body(tx: Transaction) -> None:
                both = tx.get_all([("counters", "a"), ("tallies", "b")])
                if first_attempt[0]:
                    first_attempt[0] = False
                    with contextlib.suppress(threading.BrokenBarrierError):
                        barrier.wait(timeout=3)
                for (collection, name), doc in both.items():
                    tx.set(collection, name, {"n": (doc or {})["n"] + 1})

            handle.run_transaction(body)

        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(increment, handle) for handle in (store, other_store)]:
                f.result()
        assert store.get("counters", "a") == {"n": 2} and store.get("tallies", "b") == {"n": 2}

    def test_get_many_after_writing_in_a_transaction_is_refused(self, store: Store) -> None:
        def body(tx: Transaction) -> None:
            tx.set("accounts", "acme", DOC)
            tx.get_many("accounts", ["acme", "globex"])

        with pytest.raises(StoreError, match="read after write"):
            store.run_transaction(body)

    def test_documents_read_together_lose_no_concurrent_update(
        self, store: Store, other_store: Store
    ) -> None:
        # Read in one batch, each document is read as the transaction: a concurrent
        # transaction writing one of them makes this one run again, not overwrite it.
        store.put("counters", "a", {"n": 0})
        store.put("counters", "b", {"n": 0})
        barrier = threading.Barrier(2)

        def increment(handle: Store) -> None:
            first_attempt = [True]

            def body(tx: Transaction) -> None:
                both = tx.get_many("counters", ["a", "b"])
                if first_attempt[0]:
                    first_attempt[0] = False
                    with contextlib.suppress(threading.BrokenBarrierError):
                        barrier.wait(timeout=3)
                for name, doc in both.items():
                    tx.set("counters", name, {"n": (doc or {})["n"] + 1})

            handle.run_transaction(body)

        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(increment, handle) for handle in (store, other_store)]:
                f.result()
        assert store.get("counters", "a") == {"n": 2} and store.get("counters", "b") == {"n": 2}

    def test_transaction_returns_the_function_result(self, store: Store) -> None:
        assert store.run_transaction(lambda tx: tx.get("accounts", "none") or "empty") == "empty"

    @pytest.mark.parametrize("bad_id", ["", "a/b", ".", ".."])
    def test_invalid_document_ids_are_refused(self, store: Store, bad_id: str) -> None:
        with pytest.raises(StoreError):
            store.put("accounts", bad_id, {"x": 1})

    def test_a_document_that_is_not_json_is_refused(self, store: Store) -> None:
        with pytest.raises(StoreError):
            store.put("accounts", "acme", {"when": object()})

    def test_two_interleaved_increments_lose_no_update(self, store: Store, other_store: Store) -> None:
        store.put("counters", "c", {"n": 0})
        barrier = threading.Barrier(2)

        def increment(handle: Store) -> None:
            first_attempt = [True]

            def body(tx: Transaction) -> None:
                n = (tx.get("counters", "c") or {})["n"]
                if first_attempt[0]:
                    first_attempt[0] = False
                    # both read before either writes, at least on the first attempt
                    with contextlib.suppress(threading.BrokenBarrierError):
                        barrier.wait(timeout=3)
                tx.set("counters", "c", {"n": n + 1})

            handle.run_transaction(body)

        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(increment, handle) for handle in (store, other_store)]:
                f.result()
        assert store.get("counters", "c") == {"n": 2}

    def test_many_concurrent_increments_all_count(self, store: Store, other_store: Store) -> None:
        store.put("counters", "c", {"n": 0})

        def increment(i: int) -> None:
            def body(tx: Transaction) -> None:
                n = (tx.get("counters", "c") or {})["n"]
                tx.set("counters", "c", {"n": n + 1})

            (store, other_store)[i % 2].run_transaction(body)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(increment, range(16)))
        assert other_store.get("counters", "c") == {"n": 16}

    def test_dump_lists_every_collection_and_document_sorted(self, store: Store) -> None:
        store.put_many(
            [
                ("people", "b@example.com", {"n": 2}),
                ("accounts", "x", {"n": 1}),
                ("people", "a@example.com", {"n": 1}),
            ]
        )
        dump = store.dump()
        assert list(dump) == ["accounts", "people"]
        assert list(dump["people"]) == ["a@example.com", "b@example.com"]

    def test_put_many_writes_more_than_one_transaction_holds(self, store: Store) -> None:
        assert store.put_many(("bulk", f"d{i:04d}", {"i": i}) for i in range(450)) == 450
        assert len(store.query("bulk")) == 450

    def test_a_query_in_a_transaction_does_not_lose_to_writes_elsewhere_in_the_collection(
        self, store: Store, other_store: Store
    ) -> None:
        # A query locks nothing: another instance writing a document the query did not
        # return, or one it returned but this transaction leaves alone, or a new match,
        # neither waits on it nor makes it run again.
        store.put_many([("outbox", "a", {"absence": "x", "n": 0}), ("outbox", "b", {"absence": "y", "n": 0})])
        runs = []

        def body(tx: Transaction) -> list[str]:
            found = [i for i, _ in tx.query("outbox", Where("absence", "==", "x"))]
            tx.query("outbox", Where("absence", "==", "y"))
            if not runs:
                other_store.put("outbox", "b", {"absence": "y", "n": 1})
                other_store.put("outbox", "c", {"absence": "x", "n": 1})
            runs.append(found)
            tx.set("plans", "x", {"actions": found})
            return found

        assert store.run_transaction(body) == ["a"]
        assert runs == [["a"]]
        assert store.get("plans", "x") == {"actions": ["a"]}

    def test_a_document_a_query_found_is_written_only_if_it_is_still_the_one_found(
        self, store: Store, other_store: Store
    ) -> None:
        store.put("outbox", "a", {"status": "pending", "n": 0})
        runs = []

        def cancel(tx: Transaction) -> None:
            (doc_id, doc), *_ = tx.query("outbox", Where("n", ">=", 0))
            runs.append(doc["status"])
            if len(runs) == 1:  # delivery claims it meanwhile
                other_store.put("outbox", "a", {"status": "sending", "n": 1})
            if doc["status"] == "pending":
                tx.set("outbox", doc_id, {**doc, "status": "cancelled"})

        store.run_transaction(cancel)
        assert runs == ["pending", "sending"]  # ran again on the claimed document
        assert store.get("outbox", "a") == {"status": "sending", "n": 1}

    def test_a_document_a_query_found_is_deleted_only_if_unchanged(
        self, store: Store, other_store: Store
    ) -> None:
        store.put("timers", "t", {"job": "j", "v": 0})
        runs = []

        def body(tx: Transaction) -> None:
            ((doc_id, doc),) = tx.query("timers", Where("job", "==", "j"))
            runs.append(doc["v"])
            if len(runs) == 1:
                other_store.put("timers", "t", {"job": "j", "v": 1})
            if doc["v"] == 0:
                tx.delete("timers", doc_id)

        store.run_transaction(body)
        assert runs == [0, 1]
        assert store.get("timers", "t") == {"job": "j", "v": 1}

    def test_lookup_reads_documents_by_id_as_committed(self, store: Store) -> None:
        store.put("outbox", "a", {"status": "pending"})
        found = store.run_transaction(lambda tx: tx.lookup("outbox", ["b", "a", "a"]))
        assert found == {"b": None, "a": {"status": "pending"}}

    def test_a_lookup_locks_nothing_and_a_document_it_found_is_written_only_if_unchanged(
        self, store: Store, other_store: Store
    ) -> None:
        store.put_many([("outbox", "a", {"status": "pending"}), ("outbox", "b", {"status": "pending"})])
        runs = []

        def cancel(tx: Transaction) -> None:
            found = tx.lookup("outbox", ["a", "b"])
            runs.append((found["a"] or {})["status"])
            if len(runs) == 1:
                # Delivery claims "a" meanwhile, and writes "b" (which this one leaves).
                other_store.put("outbox", "a", {"status": "sending"})
                other_store.put("outbox", "b", {"status": "delivered"})
            if (found["a"] or {})["status"] == "pending":
                tx.set("outbox", "a", {"status": "cancelled"})

        store.run_transaction(cancel)
        assert runs == ["pending", "sending"]  # ran again on the claimed document only
        assert store.get("outbox", "a") == {"status": "sending"}
        assert store.get("outbox", "b") == {"status": "delivered"}

    def test_append_adds_the_missing_values_and_creates_the_document(self, store: Store) -> None:
        store.run_transaction(lambda tx: tx.append("outbox_index", "absence:x", "ids", ["a", "b", "a"]))
        assert store.get("outbox_index", "absence:x") == {"ids": ["a", "b"]}
        store.put("outbox_index", "absence:y", {"field": "absence_id", "ids": ["c"]})
        store.run_transaction(lambda tx: tx.append("outbox_index", "absence:y", "ids", ["c", "d"]))
        assert store.get("outbox_index", "absence:y") == {"field": "absence_id", "ids": ["c", "d"]}

    def test_reading_after_appending_is_refused(self, store: Store) -> None:
        def body(tx: Transaction) -> None:
            tx.append("outbox_index", "absence:x", "ids", ["a"])
            tx.lookup("outbox", ["a"])

        with pytest.raises(StoreError, match="read after write"):
            store.run_transaction(body)
        assert store.get("outbox_index", "absence:x") is None

    def test_concurrent_appends_to_one_document_all_land(self, store: Store, other_store: Store) -> None:
        barrier = threading.Barrier(2)

        def add(handle: Store, value: str) -> None:
            def body(tx: Transaction) -> None:
                tx.lookup("outbox_index", ["absence:x"])
                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=3)
                tx.append("outbox_index", "absence:x", "ids", [value])

            handle.run_transaction(body)

        with ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(add, handle, v) for handle, v in ((store, "a"), (other_store, "b"))]:
                f.result()
        assert sorted((store.get("outbox_index", "absence:x") or {})["ids"]) == ["a", "b"]

    def test_update_merges_what_the_function_returns(self, store: Store) -> None:
        store.put("outbox", "a", {"status": "pending", "kind": "slack.message"})
        assert store.update("outbox", "a", lambda doc: {"status": "published", "message_id": "m1"})
        assert store.get("outbox", "a") == {
            "status": "published",
            "kind": "slack.message",
            "message_id": "m1",
        }
        assert store.update("outbox", "a", lambda doc: None) is False
        assert store.update("outbox", "missing", lambda doc: {"status": "x"}) is False
        assert store.get("outbox", "missing") is None

    def test_update_reads_again_when_the_document_changed_in_between(
        self, store: Store, other_store: Store
    ) -> None:
        store.put("outbox", "a", {"status": "pending"})
        seen = []

        def publish(doc: dict) -> dict | None:
            seen.append(doc["status"])
            if len(seen) == 1:  # delivery claims it between the read and the write
                other_store.put("outbox", "a", {"status": "sending", "lease_until": "x"})
            return {"status": "published"} if doc["status"] == "pending" else None

        assert store.update("outbox", "a", publish) is False
        assert seen == ["pending", "sending"]
        assert store.get("outbox", "a") == {"status": "sending", "lease_until": "x"}
