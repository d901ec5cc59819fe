"""The dashboard's read models: kept in the same commit as the state, equal to what a full
rebuild computes, unchanged by a duplicate, and what keeps every page under 200 document
reads on a book of 2,000 accounts and 50,000 mailbox threads."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from shared import clients
from shared.book import parse_book
from shared.bootstrap import Context
from shared.dashboard import views
from shared.dashboard.pages import accounts as accounts_page
from shared.demo import BOOK, EVENTS, UNTIL
from shared.dispatch import dispatch
from shared.models import utc_text
from shared.replay import replay
from shared.sources import vitally
from shared.store import EmbeddedStore, Where

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 12, 16, 9, 0, tzinfo=UTC)
LOCAL = {"REMOTE_ADDR": "127.0.0.1"}


def demo_store(policy, until: datetime = UNTIL) -> EmbeddedStore:
    store = EmbeddedStore()
    with EVENTS.open(encoding="utf-8") as lines:
        replay(
            lines,
            parse_book(json.loads(BOOK.read_text()), str(BOOK)),
            policy,
            scheduler=True,
            until=until,
            store=store,
        )
    return store


def test_the_views_kept_by_every_commit_equal_a_rebuild_from_the_whole_state(policy) -> None:
    store = demo_store(policy)
    kept = dict(store.query(views.VIEWS))
    built = views.rebuild(lambda c: store.query(c), UNTIL)
    rebuilt = {i: d for c, i, d in built if c == views.VIEWS}
    books = sorted(i for i in kept if i.startswith(views.BOOK_PREFIX))
    assert books == sorted(i for i in rebuilt if i.startswith(views.BOOK_PREFIX))
    for view_id in [*books, views.DIRECTORY]:
        assert kept[view_id] == rebuilt[view_id], view_id
    # The waiting threads, except who was told: only the SLA steps as they happen know it.
    board = {i: d for c, i, d in built if c == views.BOARD}
    assert len(board) == 2
    assert {k: {**t, "told": []} for k, t in store.query(views.BOARD)} == board
    weeks = sorted(i for i in kept if i.startswith(views.HEALTH_WEEK_PREFIX))
    assert weeks == [views.HEALTH_WEEK_PREFIX + w for w in kept[views.HEALTH]["change_weeks"]] and weeks
    assert weeks == sorted(i for i in rebuilt if i.startswith(views.HEALTH_WEEK_PREFIX))
    for view_id in weeks:
        assert kept[view_id] == rebuilt[view_id], view_id

    def counts_on(days: dict[str, Any], day: str) -> dict[str, int]:
        return days[max(d for d in days if d <= day)]

    for back in range(40):
        day = (UNTIL.date() - timedelta(days=back)).isoformat()
        assert counts_on(kept[views.HEALTH]["days"], day) == counts_on(rebuilt[views.HEALTH]["days"], day), (
            day
        )


def test_the_told_list_names_each_sla_step_once_with_its_routed_recipients(policy) -> None:
    store = demo_store(policy)
    [globex] = [t for _, t in store.query(views.BOARD) if t["account_name"] == "Globex"]
    assert [t["level"] for t in globex["told"]] == [0, 1, 2, 3]
    assert globex["told"][2]["recipients"] == ["mara@example.com"]  # step 2: Ben's manager
    assert globex["told"][3]["recipients"] == ["dana@example.com"]  # step 3: the director


def test_a_duplicate_event_leaves_every_view_as_it_was(policy, book_data) -> None:
    from shared.book import import_book

    store = EmbeddedStore()
    import_book(store, parse_book(book_data), policy, now=NOW)
    ctx = Context(store, policy)
    account = book_data["accounts"][0]
    body = {
        "match": {
            "account": {
                "id": account.get("vitally_id") or "v",
                "externalId": account["id"],
                "healthScore": 2.0,
            }
        }
    }
    [event] = vitally.normalize(body, NOW)
    dispatch(ctx, event, NOW)
    once = dict(store.query(views.VIEWS))
    listed = views.health_changes(store.get, once[views.HEALTH])
    assert [c["account_id"] for c in listed] == [account["id"]]
    dispatch(ctx, event, NOW + timedelta(minutes=5))
    assert dict(store.query(views.VIEWS)) == once


def test_an_account_given_to_another_ta_moves_between_their_books(policy, book_data) -> None:
    from shared.book import import_book

    store = EmbeddedStore()
    import_book(store, parse_book(book_data), policy, now=NOW)
    account = book_data["accounts"][0]
    old_ta = account["ta"]
    new_ta = next(p["email"] for p in book_data["people"] if p["role"] == "TA" and p["email"] != old_ta)
    account["ta"] = new_ta
    import_book(store, parse_book(book_data), policy, now=NOW)
    assert account["id"] not in store.get(views.VIEWS, f"book:{old_ta}")["accounts"]
    assert store.get(views.VIEWS, f"book:{new_ta}")["accounts"][account["id"]]["ta"] == new_ta


# -- a big book: the reads each page costs -------------------------------------------------------


def big_state(seed: int = 14) -> dict[str, dict[str, dict[str, Any]]]:
    """2,000 accounts, 50,000 mailbox threads (60 waiting), a year of health changes,
    absences, dead letters and 30,000 delivered actions: a scan of any of them would cost
    far more than a page may read."""
    rng = random.Random(seed)
    state: dict[str, dict[str, dict[str, Any]]] = {
        c: {}
        for c in (
            "people",
            "accounts",
            "mail_threads",
            "health_changes",
            "absences",
            "coverage_plans",
            "outbox",
            "dead_letters",
        )
    }
    managers = [f"manager{i}@example.com" for i in range(6)]
    tas = [f"ta{i:02d}@example.com" for i in range(40)]
    aes = [f"ae{i:02d}@example.com" for i in range(60)]
    for email, role, boss in (
        [("vp@example.com", "TS_VP", None), ("director@example.com", "TA_DIRECTOR", "vp@example.com")]
        + [(m, "TA_MANAGER", "director@example.com") for m in managers]
        + [(t, "TA", managers[i % 6]) for i, t in enumerate(tas)]
        + [(a, "AE", None) for a in aes]
    ):
        state["people"][email] = {
            "email": email,
            "name": email.split("@")[0].title(),
            "role": role,
            "manager": boss,
            "timezone": "Europe/Berlin",
            "coverage_peers": [],
        }
    today = NOW.date()
    categories = ["green"] * 6 + ["yellow"] * 3 + ["red"]
    for i in range(2000):
        renews = today + timedelta(days=rng.randint(-30, 400))
        category = rng.choice(categories)
        account = {
            "id": f"acct-{i:04d}",
            "name": f"Customer {i:04d}",
            "ta": tas[i % 40] if i < 1500 else None,
            "ae": aes[i % 60],
            "arr": float(rng.randint(20, 900) * 1000),
            "renewal_date": renews.isoformat(),
            "expansion_opportunity": rng.random() < 0.2,
            "health_category": category,
            "health_score": 3.0 if category == "red" else 8.0,
            "lighthouse_active": category == "red" and rng.random() < 0.5,
            "seats_licensed": 100,
            "seats_used": rng.randint(50, 100),
            "managed": i < 1500,
        }
        if renews - today <= timedelta(days=120) and renews >= today:
            account["renewal_process"] = {
                "renewal_date": renews.isoformat(),
                "started_at": utc_text(NOW - timedelta(days=3)),
            }
        if account["seats_used"] >= 90:
            account["seat_alerts"] = {"term": "2026-01-01..2026-12-31", "percents": [90], "at": utc_text(NOW)}
        state["accounts"][account["id"]] = account
    for i in range(50_000):
        since = NOW - timedelta(hours=rng.randint(1, 24 * 365))
        waiting = i < 60
        thread = {
            "thread_id": f"t{i:05d}",
            "mailbox": "technicaladvisors@example.com",
            "subject": f"Question {i}",
            "customer_address": f"champion{i % 2000}@customer.test",
            "account_id": f"acct-{i % 2000:04d}",
            "ta": tas[i % 40],
            "waiting": waiting,
            "waiting_since": utc_text(since) if waiting else None,
            "deadline_at": utc_text(since + timedelta(hours=48)) if waiting else None,
            "clock_timezone": "Europe/Berlin",
            "sla_level": None,
            "last_team_reply_at": None if waiting else utc_text(since + timedelta(hours=5)),
        }
        state["mail_threads"][f"technicaladvisors@example.com:t{i:05d}"] = thread
    for i in range(20_000):
        at = NOW - timedelta(minutes=rng.randint(1, 60 * 24 * 365))
        state["health_changes"][f"vitally:{i:06d}"] = {
            "account_id": f"acct-{rng.randrange(2000):04d}",
            "at": utc_text(at),
            "old_category": rng.choice(["green", "yellow", "red"]),
            "new_category": rng.choice(["green", "yellow", "red"]),
            "score": 5.0,
        }
    for i in range(600):
        person = tas[i % 40] if i % 3 else aes[i % 60]
        start = today + timedelta(days=rng.randint(-330, 60))
        end = start + timedelta(days=rng.randint(0, 9))
        absence_id = f"pto-{i:04d}"
        status = "REQUESTED" if i % 10 == 0 else "APPROVED"
        state["absences"][absence_id] = {
            "id": absence_id,
            "person": person,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "status": status,
            "starts_at": f"{start.isoformat()}T00:00:00Z",
            "ends_at": f"{(end + timedelta(days=1)).isoformat()}T00:00:00Z",
        }
        if person in tas:
            ta_accounts = [a for a in state["accounts"].values() if a["ta"] == person][:4]
            state["coverage_plans"][absence_id] = {
                "absence_id": absence_id,
                "ta": person,
                "start": f"{start.isoformat()}T00:00:00Z",
                "end": f"{(end + timedelta(days=1)).isoformat()}T00:00:00Z",
                "status": "draft" if status == "REQUESTED" else "shared",
                "items": [
                    {"account_id": a["id"], "reasons": ["renewing"], "cover": tas[(i + 1) % 40]}
                    for a in ta_accounts
                ],
                "covers": [tas[(i + 1) % 40]],
                "first_day": start.isoformat(),
                "last_day": end.isoformat(),
            }
    for i in range(30_055):
        status = "pending" if i < 40 else "failed" if i < 55 else "delivered"
        at = NOW - timedelta(minutes=rng.randint(1, 60 * 24 * 365))
        state["outbox"][f"act_{i:06d}"] = {
            "id": f"act_{i:06d}",
            "kind": "slack.message",
            "at": utc_text(at),
            "status": status,
            "not_before": utc_text(NOW + timedelta(hours=i)) if status == "pending" else None,
            "recipients": [tas[i % 40]],
            "account_id": f"acct-{i % 2000:04d}",
            "reason": "because",
            "idempotency_key": f"k{i}",
            "event_id": f"e{i}",
            "channel": "U0",
            "text": "hi",
            **(
                {"last_error": "Slack chat.postMessage: channel_not_found", "failure": "permanent"}
                if status == "failed"
                else {}
            ),
        }
    for i in range(300):
        received = (
            NOW - timedelta(hours=rng.randint(1, 24 * 365)) if i >= 10 else NOW - timedelta(hours=i + 1)
        )
        state["dead_letters"][f"dl{i:04d}"] = {
            "source": "deel",
            "function": "deel_webhook",
            "reason": "bad",
            "received_at": utc_text(received),
            "raw": "{}",
        }
    return state


@pytest.fixture(scope="module")
def big(policy) -> EmbeddedStore:
    store = EmbeddedStore()
    state = big_state()
    for collection, docs in state.items():
        store.put_many(((collection, i, d) for i, d in docs.items()), chunk=5000)
    store.put_many((c, i, d) for c, i, d in views.rebuild(lambda c: store.query(c), NOW) if d is not None)
    return store


@pytest.mark.parametrize(
    ("path", "shows"),
    [("/", "waiting"), ("/out", "absences"), ("/accounts", "renewing"), ("/actions", "failed")],
)
def test_each_page_of_a_big_book_reads_under_200_documents_and_logs_it(
    big: EmbeddedStore,
    path: str,
    shows: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert sum(len(big.query(c)) for c in ("accounts", "mail_threads", "outbox")) > 80_000
    monkeypatch.setenv("TAOPS_DASHBOARD_LOCAL", "1")
    monkeypatch.setenv("TAOPS_CLOCK", NOW.isoformat())
    monkeypatch.setattr(clients, "_store", big)
    client = create_app("dashboard", str(ROOT / "main.py"), "http").test_client()
    capsys.readouterr()
    before = big.reads
    data = client.get(f"{path}?format=json", environ_base=LOCAL).get_json()
    reads = big.reads - before
    assert data[shows], f"{path} shows nothing: the bound would prove nothing"
    assert reads < 200, f"{path} read {reads} documents"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    [entry] = [e for e in logged if re.match(r"dashboard page ", e["message"])]
    assert entry["reads"] == reads - 2  # the page itself; the local viewer's lookup is the other two


def test_the_accounts_page_draws_top3_and_renewals_from_the_books_not_the_accounts(
    big: EmbeddedStore, policy
) -> None:
    before = big.reads
    data = accounts_page(big, policy, NOW)
    books = big.query(views.VIEWS, Where("kind", "==", "book"))
    assert len(books) == 40 + 60  # each TA's, and the unassigned accounts' AEs'
    health = big.get(views.VIEWS, views.HEALTH) or {}
    since = views.iso_week(NOW - timedelta(days=30))
    weeks = [w for w in health.get("change_weeks") or [] if w >= since]
    # (counting the query above and the health read here) + health, directory, a week's changes each
    assert big.reads - before == 2 * len(books) + 1 + 2 + len(weeks)
    assert len(data["top3"]) == 40 and all(len(t["top3"]) == 3 for t in data["top3"])
    window = date.fromisoformat(NOW.date().isoformat()) + timedelta(days=120)
    expected = sum(
        1
        for a in big.query("accounts")
        if NOW.date().isoformat() <= a[1]["renewal_date"] <= window.isoformat()
    )
    assert len(data["renewing"]) == expected > 100


def test_a_document_read_twice_in_a_transaction_conflicts_if_it_changed_between() -> None:
    """The views re-read what a handler read; a writer between the two reads must still make
    the transaction run again, or the handler's update would be lost."""
    store = EmbeddedStore()
    store.put("accounts", "a", {"tally": 0})
    runs = []

    def body(tx) -> None:
        first = tx.get("accounts", "a")
        if not runs:
            store.put("accounts", "a", {"tally": 100})  # another writer commits meanwhile
        runs.append(first["tally"])
        tx.get("accounts", "a")
        tx.set("accounts", "a", {"tally": first["tally"] + 1})

    store.run_transaction(body)
    assert runs == [0, 100]
    assert store.get("accounts", "a") == {"tally": 101}


def test_each_week_of_answered_waits_has_its_document_and_only_the_kept_weeks_stay() -> None:
    stored: dict[tuple[str, str], dict[str, Any]] = {}
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # a Monday
    for week in range(15):
        asked = start + timedelta(weeks=week)
        waiting = {"thread_id": "t", "waiting": True, "waiting_since": utc_text(asked), "deadline_at": None}
        answered = {**waiting, "waiting": False, "last_team_reply_at": utc_text(asked + timedelta(hours=5))}
        stored[("mail_threads", "t")] = waiting
        writes = views.project(
            lambda c, i: stored.get((c, i)), [("mail_threads", "t", answered)], [], asked + timedelta(hours=5)
        )
        for collection, doc_id, doc in writes:
            if doc is None:
                stored.pop((collection, doc_id), None)
            else:
                stored[(collection, doc_id)] = doc
    weeks = sorted(i for c, i in stored if c == views.VIEWS and i.startswith(views.MAILBOX_WEEK_PREFIX))
    assert len(weeks) == views.WEEKS_KEPT
    assert weeks[-1] == views.MAILBOX_WEEK_PREFIX + views.iso_week(start + timedelta(weeks=14))
    last = stored[(views.VIEWS, weeks[-1])]
    assert (last["answered"], last["within_sla"], last["hours"]) == (1, 1, [5.0])
