"""``PendingView``: a rule asked mid-decision sees the documents as the decision will write them."""

from __future__ import annotations

import threading

import pytest

from shared.handlers.overlay import PendingView
from shared.processing import Delete, Put, ReadView
from shared.store import EmbeddedStore, Where


def test_gets_and_queries_see_pending_writes_and_deletes_first() -> None:
    store = EmbeddedStore()
    store.put("accounts", "acme", {"ta": "ana", "renewal_date": "2027-04-30"})
    store.put("accounts", "globex", {"ta": "ana", "renewal_date": "2027-06-01"})
    store.put("accounts", "initech", {"ta": "ben"})

    def look(tx):
        view = PendingView(
            ReadView(tx),
            [
                Put("accounts", "acme", {"ta": "ana", "renewal_date": "2026-12-20"}),
                Put("accounts", "initech", {"ta": "ana"}),  # moved to Ana
                Delete("accounts", "globex"),
            ],
        )
        return (
            view.get("accounts", "acme"),
            view.get("accounts", "globex"),
            sorted(doc_id for doc_id, _ in view.query("accounts", Where("ta", "==", "ana"))),
            view.query("accounts", Where("ta", "==", "ben")),
            len(view.query("accounts", Where("ta", "==", "ana"), limit=1)),
        )

    acme, globex, anas, bens, limited = store.run_transaction(look)
    assert acme == {"ta": "ana", "renewal_date": "2026-12-20"} and globex is None
    assert anas == ["acme", "initech"] and bens == [] and limited == 1
    assert store.get("accounts", "acme")["renewal_date"] == "2027-04-30"  # nothing written


def test_lookups_and_batches_see_pending_writes_and_read_each_document_once() -> None:
    store = EmbeddedStore()
    store.put_many(
        [("people", "ana", {"n": 1}), ("people", "ben", {"n": 2}), ("outbox", "a1", {"s": "pending"})]
    )

    def look(tx):
        view = PendingView(ReadView(tx), [Put("outbox", "a1", {"s": "cancelled"}), Delete("people", "ben")])
        before = store.reads
        batch = view.get_many("people", ["ana", "ben", "cy"])
        again = (view.get("people", "ana"), view.get_many("people", ["ana"]))
        return batch, again, store.reads - before, view.lookup("outbox", ["a1", "a2"])

    batch, again, reads, looked = store.run_transaction(look)
    assert batch == {"ana": {"n": 1}, "ben": None, "cy": None}
    assert again == ({"n": 1}, {"ana": {"n": 1}})
    assert reads == 2  # ana and cy, once each; ben is pending (deleted)
    assert looked == {"a1": {"s": "cancelled"}, "a2": None}


class _RemoteTransaction:
    """A transaction whose reads are round trips: it records the thread of each read."""

    round_trips = True

    def __init__(self) -> None:
        self.threads: list[int] = []

    def _read(self, *_: object, **__: object) -> dict:
        self.threads.append(threading.get_ident())
        return {}

    get = get_many = lookup = query = _read


def test_independent_reads_wait_together_where_each_is_a_round_trip() -> None:
    remote = _RemoteTransaction()
    view = PendingView(ReadView(remote), [])  # type: ignore[arg-type]
    barrier = threading.Barrier(3, timeout=5)

    def read(n: int):
        def run() -> int:
            view.query("accounts")
            barrier.wait()  # all three at once, or this times out
            return n

        return run

    assert view.together(read(1), read(2), read(3)) == (1, 2, 3)
    assert len(set(remote.threads)) == 3


def test_reads_together_on_the_embedded_store_run_in_order_on_the_callers_thread() -> None:
    store = EmbeddedStore()
    store.put("people", "ana", {"n": 1})
    order: list[str] = []

    def look(tx):
        view = ReadView(tx)
        return view.together(
            lambda: order.append(f"a:{threading.get_ident()}") or view.get("people", "ana"),
            lambda: order.append(f"b:{threading.get_ident()}") or view.get("people", "ben"),
        )

    assert store.run_transaction(look) == ({"n": 1}, None)
    assert order == [f"a:{threading.get_ident()}", f"b:{threading.get_ident()}"]


def test_reads_together_may_read_together_in_turn_however_many_at_once() -> None:
    # A re-plan beside the re-plans of the plans its TA covers, each reading together:
    # 3 x 12 reads all waiting at once, where a fixed pool of threads would starve.
    view = ReadView(_RemoteTransaction())  # type: ignore[arg-type]
    barrier = threading.Barrier(36, timeout=5)

    def leaf(n: int):
        def run() -> int:
            barrier.wait()
            return n

        return run

    def branch(b: int):
        return lambda: view.together(*(leaf(b * 100 + n) for n in range(12)))

    answers = view.together(branch(0), branch(1), branch(2))
    assert answers == tuple(tuple(b * 100 + n for n in range(12)) for b in range(3))


def test_a_failed_read_among_reads_together_is_raised_once_all_have_finished() -> None:
    view = ReadView(_RemoteTransaction())  # type: ignore[arg-type]
    finished: list[str] = []

    def slow() -> str:
        threading.Event().wait(0.2)
        finished.append("slow")
        return "slow"

    def broken() -> str:
        raise TimeoutError("deadline exceeded")

    with pytest.raises(TimeoutError, match="deadline exceeded"):
        view.together(broken, slow)
    assert finished == ["slow"]  # no read is left running behind the failure
