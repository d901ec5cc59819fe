"""Each handler reads what its event concerns (issue 15, item 2): a TA's time off reads
the TA, their peers, manager, account team and covers, never the whole directory, so its
cost is the same in a team of 14 and in a company of 2,000."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from shared.book import import_book, parse_book
from shared.bootstrap import Context
from shared.dispatch import dispatch
from shared.models import utc_text
from shared.store import EmbeddedStore
from tests.functional.ooo_world import NOW, pto


def _book(book_data: dict[str, Any], people: int) -> dict[str, Any]:
    """The example book, Ana's book grown to ten accounts, and the directory padded with
    TAs of another manager until it holds ``people``."""
    data = copy.deepcopy(book_data)
    ana = [a for a in data["accounts"] if a["ta"] == "ana@example.com"]
    for n in range(10 - len(ana)):
        extra = copy.deepcopy(ana[-1])
        extra.update(id=f"ana-extra-{n}", name=f"Ana extra {n}")
        for field in ("salesforce_id", "vitally_id", "renewal_opportunity_id", "champions", "domains"):
            extra.pop(field, None)
        data["accounts"].append(extra)
    template = next(p for p in data["people"] if p["email"] == "ben@example.com")
    for n in range(people - len(data["people"])):
        data["people"].append(
            {
                **template,
                "email": f"ta{n}@other.example.com",
                "name": f"Other TA {n}",
                "manager": None,
                "coverage_peers": [],
                "slack_id": None,
            }
        )
    return data


def _reads(
    book_data: dict[str, Any], policy, people: int, *, others_away: int = 0, past: int = 0, ahead: int = 0
) -> int:
    """Reads of Ana's approved time off; ``others_away``: how many padded TAs are away the
    same week (their absences recorded through Deel first, as the company's would be);
    ``past``: how many weeks off Ana took before, a fortnight apart, each told to her
    customers when it was approved; ``ahead``: how many she booked after it, the same way,
    before asking for it."""
    store = EmbeddedStore()
    import_book(store, parse_book(_book(book_data, people)), policy, now=NOW)
    ctx = Context(store, policy)
    for n in range(past):
        first = NOW.date() - timedelta(weeks=2 * (past - n) + 1)
        asked = datetime.combine(first - timedelta(days=10), time(9), UTC)
        earlier = pto(
            "APPROVED", utc_text(asked), str(first), str(first + timedelta(days=4)), absence=f"past-{n}"
        )
        assert dispatch(ctx, earlier, asked).outcome.value == "applied"
    for n in range(ahead):
        first = date(2027, 1, 4) + timedelta(weeks=2 * n)
        later = pto(
            "APPROVED",
            "2026-11-20T09:00:00Z",
            str(first),
            str(first + timedelta(days=4)),
            absence=f"later-{n}",
        )
        assert dispatch(ctx, later, NOW).outcome.value == "applied"
    for n in range(others_away):
        away = pto("APPROVED", "2026-11-20T09:00:00Z", who=f"ta{n}@other.example.com", absence=f"other-{n}")
        assert dispatch(ctx, away, NOW).outcome.value == "applied"
    before = store.reads
    result = dispatch(ctx, pto("APPROVED", "2026-11-21T09:00:00Z"), NOW)
    assert result.outcome.value == "applied" and result.new_actions
    return store.reads - before


@pytest.mark.parametrize("people", [14, 2000])
def test_a_ten_account_tas_time_off_reads_at_most_30_documents_whatever_the_directory(
    book_data, policy, people: int
) -> None:
    # The TA's ten accounts, the people the plan names, the absence and its plan, and the
    # event's own bookkeeping; the plan's new actions are created unread.
    assert _reads(book_data, policy, people) <= 30


def test_time_off_reads_as_many_documents_in_a_company_of_2000_as_in_a_team_of_14(book_data, policy) -> None:
    assert _reads(book_data, policy, 2000) == _reads(book_data, policy, 14)


def test_time_off_reads_the_same_while_the_rest_of_the_company_is_away_too(book_data, policy) -> None:
    # Who else is away matters only for Ana's peers, manager and covers: 300 other TAs
    # away the same week are not read.
    assert _reads(book_data, policy, 314, others_away=300) == _reads(book_data, policy, 314, others_away=1)


def test_time_off_reads_as_much_after_two_years_of_customer_notices_as_after_one(book_data, policy) -> None:
    # A notice keeps its gap from the account's recent emails only: the pile of notices
    # of Ana's earlier time off is not read again.
    assert _reads(book_data, policy, 14, past=50) == _reads(book_data, policy, 14, past=1)


def test_time_off_reads_as_much_with_two_years_of_time_off_booked_after_it_as_with_one(
    book_data, policy
) -> None:
    # Globex is in Lighthouse: with a champion, its customers hear of every time off. The
    # notices of later time off are due after this one's can go: they are not read.
    told = copy.deepcopy(book_data)
    next(a for a in told["accounts"] if a["id"] == "globex")["champions"] = ["kim@globex.test"]
    assert _reads(told, policy, 14, ahead=50) == _reads(told, policy, 14, ahead=1)


def test_a_cancelled_time_off_reads_what_it_withdraws_not_the_tas_whole_book(book_data, policy) -> None:
    store = EmbeddedStore()
    import_book(store, parse_book(_book(book_data, 14)), policy, now=NOW)
    ctx = Context(store, policy)
    planned = dispatch(ctx, pto("APPROVED", "2026-11-21T09:00:00Z"), NOW)
    assert planned.new_actions
    before = store.reads
    result = dispatch(ctx, pto("CANCELED", "2026-11-21T10:00:00Z"), NOW)
    assert result.outcome.value == "applied"
    assert result.decision is not None and any("plan withdrawn" in n for n in result.decision.notes)
    # The event's bookkeeping, the absence, Ana, her plan and its outbox (one read per
    # action it holds): nothing was told yet, so no account is read.
    outbox = len(planned.new_actions)
    assert store.reads - before <= 7 + outbox


class _Recording(EmbeddedStore):
    """The embedded store, recording each transaction's reads in order."""

    def __init__(self) -> None:
        super().__init__()
        self.transactions: list[list[tuple[str, Any]]] = []

    def run_transaction(self, fn):  # type: ignore[no-untyped-def]
        def recorded(tx):  # type: ignore[no-untyped-def]
            calls: list[tuple[str, Any]] = []
            self.transactions.append(calls)
            return fn(_RecordingTransaction(tx, calls))

        return super().run_transaction(recorded)


class _RecordingTransaction:
    def __init__(self, tx: Any, calls: list[tuple[str, Any]]) -> None:
        self._tx, self._calls = tx, calls

    def get(self, collection: str, doc_id: str) -> Any:
        self._calls.append(("get", (collection, doc_id)))
        return self._tx.get(collection, doc_id)

    def get_all(self, keys: Any) -> Any:
        keys = list(keys)
        self._calls.append(("get_all", keys))
        return self._tx.get_all(keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


def test_a_time_off_reads_its_absence_and_requester_with_its_marker(book_data, policy) -> None:
    # On Firestore one batch get: the marker, the absence's version, the absence and the
    # requester, none read again by the handler.
    store = _Recording()
    import_book(store, parse_book(_book(book_data, 14)), policy, now=NOW)
    event = pto("APPROVED", "2026-11-21T09:00:00Z")
    store.transactions.clear()
    assert dispatch(Context(store, policy), event, NOW).outcome.value == "applied"
    [calls] = [t for t in store.transactions if t and t[0][0] == "get_all"]
    named = [("processed_events", event.marker_id), ("entity_versions", event.version_id)]
    named += [("absences", "pto-ana-1"), ("people", "ana@example.com")]
    assert calls[0] == ("get_all", named)
    assert not {("get", key) for key in named} & set(calls[1:])
