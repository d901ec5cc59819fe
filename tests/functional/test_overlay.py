"""``PendingView``: a rule asked mid-decision sees the documents as the decision will write them."""

from __future__ import annotations

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
