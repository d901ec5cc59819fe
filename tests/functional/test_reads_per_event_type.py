"""What each event type and tick job reads (issue 15, item 2), measured as
``bench/reads_per_event.py`` measures it: the same cases, each from a fresh embedded store
holding the demo book padded to a bigger directory and book, its setup events first, then
the store's ``reads`` around the one event or tick.

An event reads what it concerns, so its cost is the same in a team of 14 with 40 accounts
and in a company of 2,000 with 2,000; most event types stay within 10 reads. A job reads
what is due: with nothing due, nothing grows with the directory or the book, and what it
reads for one person or account does not grow with everyone else's."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from bench import reads_per_event as bench
from shared.bootstrap import Context
from shared.cadences import Due, due_event
from shared.cadences.digest import JOB as DIGEST
from shared.cadences.digest import digest_key, time_zone, week_of
from shared.dispatch import dispatch
from shared.handlers.common import ABSENCES, ViewDirectory
from shared.logs import muted
from shared.policy import Policy, load_policy
from shared.processing import Outcome, ReadView
from shared.store import Document, EmbeddedStore, Transaction

SMALL = (14, 40)
LARGE = (2000, 2000)
CASES = {case.name: case for case in bench.CASES}
# Every event type but time off reads at most 10 documents (issue 15).
WITHIN_TEN = [
    "renewal.changed, date moved",
    "health.changed, same category",
    "health.changed, new category",
    "mail.group_message, customer",
    "mail.group_message, team reply",
    "timer.fired sla",
    "timer.fired renewal",
    "timer.fired health",
    "renewal.changed, inside the window",
    "lighthouse.exit",
    "outbox.cancel",
]


@cache
def _policy() -> Policy:
    return load_policy()


@cache
def _state(people: int, accounts: int, account_teams: bool = True) -> dict[str, dict[str, Document]]:
    return bench.snapshot(_policy(), people, accounts, account_teams=account_teams)


def _reads(name: str, size: tuple[int, int], account_teams: bool = True) -> dict[str, Any]:
    with muted():
        return bench.measure(CASES[name], _state(*size, account_teams), _policy())


@pytest.mark.parametrize("name", WITHIN_TEN)
def test_an_event_reads_as_many_documents_in_a_company_of_2000_as_in_a_team_of_14(name: str) -> None:
    small, large = _reads(name, SMALL), _reads(name, LARGE)
    assert small["outcome"] == large["outcome"] == "applied"
    assert large["reads"] == small["reads"]


@pytest.mark.parametrize("name", WITHIN_TEN)
def test_an_event_type_reads_at_most_ten_documents(name: str) -> None:
    assert _reads(name, LARGE)["reads"] <= 10


@pytest.mark.parametrize(
    "name", ["mbr-reminder (none due)", "qbr-reminder (none due)", "sla-check (none due)"]
)
def test_a_tick_with_nothing_due_reads_neither_the_directory_nor_the_book(name: str) -> None:
    small, large = _reads(name, SMALL), _reads(name, LARGE)
    assert "due 0" in str(large["summary"])
    assert large["reads"] == small["reads"] <= 2


def test_the_qbr_reads_the_books_of_the_aes_it_reminds_not_the_whole_book() -> None:
    # The extra accounts belong to other TAs and have no AE: none of it is due.
    few = _reads("qbr-reminder", (300, 40), account_teams=False)
    many = _reads("qbr-reminder", (300, 2000), account_teams=False)
    assert "due 3, applied 3" in str(many["summary"])
    assert many["reads"] == few["reads"]


def test_a_tas_digest_reads_that_tas_accounts_not_the_companys() -> None:
    policy = _policy()
    at = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    _, period = week_of(at, time_zone(policy))
    due = Due(DIGEST, "ana@example.com", period, digest_key(period, "ana@example.com"))

    def reads(size: tuple[int, int]) -> int:
        store = EmbeddedStore()
        store.put_many((c, i, d) for c, docs in _state(*size).items() for i, d in docs.items())
        before = store.reads
        with muted():
            result = dispatch(Context(store, policy), due_event(due, at), at)
        assert result.outcome is Outcome.APPLIED and result.new_actions
        return store.reads - before

    assert reads(LARGE) == reads(SMALL)


def test_expecting_people_reads_their_absences_in_one_query_and_finds_what_asking_each_finds() -> None:
    store = EmbeddedStore()
    at = datetime(2026, 12, 1, 9, tzinfo=UTC)
    spans = {  # person: (starts_at, ends_at) of each absence; some outside the window
        "ana@example.com": [
            ("2026-12-02T00:00:00Z", "2026-12-05T00:00:00Z"),
            ("2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z"),
        ],
        "ben@example.com": [
            ("2026-12-20T00:00:00Z", "2026-12-23T00:00:00Z"),
            ("2027-02-01T00:00:00Z", "2027-02-03T00:00:00Z"),
        ],
        "mara@example.com": [],
        "other@example.com": [("2026-12-01T00:00:00Z", "2026-12-09T00:00:00Z")],
    }
    store.put_many(
        (
            ABSENCES,
            f"{email}-{n}",
            {"person": email, "starts_at": starts, "ends_at": ends, "status": "APPROVED"},
        )
        for email, found in spans.items()
        for n, (starts, ends) in enumerate(found)
    )
    asked = ["ana@example.com", "ben@example.com", "mara@example.com"]

    def each(tx: Transaction) -> dict[str, list[Document]]:
        directory = ViewDirectory(ReadView(tx), at)
        return {email: list(directory.absences(email)) for email in asked}

    def expected(tx: Transaction) -> dict[str, list[Document]]:
        directory = ViewDirectory(ReadView(tx), at).expect([*asked, None, "ana@example.com"])
        return {email: list(directory.absences(email)) for email in asked}

    before = store.reads
    one_each = store.run_transaction(each)
    between = store.reads
    at_once = store.run_transaction(expected)
    assert at_once == one_each
    assert [len(one_each[email]) for email in asked] == [1, 1, 0]
    assert between - before == 3  # one query each (an empty answer costs one read)
    assert store.reads - between == 2  # one query: the two absences it finds
