"""`taops import` keeps what other sources own: through the real console entry, against the
embedded store file, with Salesforce's renewal arriving through the deployed function."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from shared import clients
from shared.book import PruneRefusedError, parse_book, run_import
from shared.cli import main
from shared.models import CoverageItem, CoveragePlan, CoverReason, MailThread
from shared.sources import salesforce as sf
from shared.store import EmbeddedStore
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "tests" / "events"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TAOPS_CLOCK", "2026-11-22T12:00:00Z")
    return tmp_path / "state.json"


def _book(tmp_path: Path, data: dict[str, Any], name: str = "book.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def _import(state: Path, book: str, *flags: str) -> int:
    return main(["import", book, "--store", f"embedded:{state}", *flags])


def _salesforce_moves_acme_renewal(state: Path, monkeypatch: pytest.MonkeyPatch, close_date: str) -> None:
    """A Salesforce CDC opportunity update, through on_renewal_changed as deployed."""
    body = json.loads((EVENTS / "salesforce_cdc_opportunity_update_cometd.json").read_text())
    body["payload"].update({"AccountId": "001ACME", "Type": "Renewal", "CloseDate": close_date})
    [event] = sf.normalize_cdc(body, NOW)
    monkeypatch.setenv("TAOPS_STORE", f"embedded:{state}")
    clients.reset()
    try:
        app = create_app("on_renewal_changed", str(ROOT / "main.py"), "cloudevent").test_client()
        headers, data = cloud_event(event.to_json(), "renewal-changed", event.attributes())
        assert app.post("/", headers=headers, data=data).status_code == 200
    finally:
        clients.reset()


def test_reimporting_the_same_book_keeps_the_renewal_salesforce_set_since(
    tmp_path: Path, state: Path, book_data, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    book = _book(tmp_path, book_data)
    assert _import(state, book) == 0
    _salesforce_moves_acme_renewal(state, monkeypatch, "2027-01-15")
    acme = EmbeddedStore(state).get("accounts", "acme")
    assert (acme["renewal_date"], acme["renewal_stage"]) == ("2027-01-15", "Negotiation/Review")
    capsys.readouterr()

    book_data["accounts"][0]["slack_channel"] = "C0ACMENEW"  # the book's own field moves too
    assert _import(state, _book(tmp_path, book_data)) == 0

    acme = EmbeddedStore(state).get("accounts", "acme")
    assert (acme["renewal_date"], acme["renewal_stage"]) == ("2027-01-15", "Negotiation/Review")
    assert acme["slack_channel"] == "C0ACMENEW"
    out = capsys.readouterr().out
    assert "renewal_date: kept 2027-01-15, Salesforce owns it (the file says 2026-12-18" in out
    assert "slack_channel: C0ACME → C0ACMENEW" in out


def test_force_overwrites_source_owned_fields_and_says_which(
    tmp_path: Path, state: Path, book_data, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    book = _book(tmp_path, book_data)
    assert _import(state, book) == 0
    _salesforce_moves_acme_renewal(state, monkeypatch, "2027-01-15")
    capsys.readouterr()

    assert _import(state, book, "--force") == 0

    assert EmbeddedStore(state).get("accounts", "acme")["renewal_date"] == "2026-12-18"
    out = capsys.readouterr().out
    assert "renewal_date: 2027-01-15 → 2026-12-18 (overwrote a field Salesforce owns: --force)" in out
    assert "--force overwrote 1 field(s) other sources own" in out
    # The stage the file does not give is not cleared, even by --force.
    assert EmbeddedStore(state).get("accounts", "acme")["renewal_stage"] == "Negotiation/Review"


def test_taops_own_state_on_an_account_survives_a_reimport(tmp_path: Path, state: Path, book_data) -> None:
    book = _book(tmp_path, book_data)
    assert _import(state, book) == 0
    store = EmbeddedStore(state)
    acme = store.get("accounts", "acme")
    # Lighthouse entered since the first import, and a handler's own field the book never has.
    store.put(
        "accounts",
        "acme",
        {**acme, "lighthouse_active": True, "lighthouse_entered_at": "2026-11-20T09:00:00Z"},
    )

    assert _import(state, book) == 0

    acme = EmbeddedStore(state).get("accounts", "acme")
    assert acme["lighthouse_active"] is True
    assert acme["lighthouse_entered_at"] == "2026-11-20T09:00:00Z"


def test_a_new_account_takes_every_field_from_the_file(tmp_path: Path, state: Path, book_data) -> None:
    assert _import(state, _book(tmp_path, book_data)) == 0
    book_data["accounts"].append(
        {
            "id": "hooli",
            "name": "Hooli",
            "ta": "ben@example.com",
            "renewal_date": "2027-03-01",
            "health_score": 2.0,
            "health_category": "red",
            "lighthouse_active": True,
        }
    )
    assert _import(state, _book(tmp_path, book_data)) == 0
    hooli = EmbeddedStore(state).get("accounts", "hooli")
    assert (hooli["renewal_date"], hooli["health_category"], hooli["lighthouse_active"]) == (
        "2027-03-01",
        "red",
        True,
    )


def test_a_second_book_without_prune_removes_nobody(tmp_path: Path, state: Path, book_data) -> None:
    assert _import(state, _book(tmp_path, book_data)) == 0
    second = {
        "people": [p for p in book_data["people"] if p["email"] != "ivy@example.com"],
        "accounts": [{**book_data["accounts"][2]}],
    }
    assert _import(state, _book(tmp_path, second, "second.json")) == 0
    store = EmbeddedStore(state)
    assert store.get("people", "ivy@example.com") is not None
    assert {i for i, _ in store.query("accounts")} == {"acme", "globex", "initech"}


def _second_book(book_data: dict[str, Any]) -> dict[str, Any]:
    """The example book without Ivy, Ben, Globex and Initech."""
    gone = ("ivy@example.com", "ben@example.com")
    people = [p for p in book_data["people"] if p["email"] not in gone]
    for person in people:
        person["coverage_peers"] = [e for e in person.get("coverage_peers", []) if e not in gone]
    return {"people": people, "accounts": [{**book_data["accounts"][0], "ie": None}]}


def test_prune_removes_the_people_and_accounts_no_longer_in_the_file(
    tmp_path: Path, state: Path, book_data, capsys
) -> None:
    assert _import(state, _book(tmp_path, book_data)) == 0
    capsys.readouterr()
    assert _import(state, _book(tmp_path, _second_book(book_data), "second.json"), "--prune") == 0
    store = EmbeddedStore(state)
    assert {i for i, _ in store.query("accounts")} == {"acme"}
    assert store.get("people", "ivy@example.com") is None
    assert store.get("people", "ben@example.com") is None
    out = capsys.readouterr().out
    assert "  - globex (not in the file)" in out and "  - ivy@example.com (not in the file)" in out


def _plan(absence_id: str, ta: str, end: str, items: list[tuple[str, str]], status: str = "shared") -> dict:
    return CoveragePlan(
        absence_id=absence_id,
        ta=ta,
        start=datetime(2026, 11, 30, 8, tzinfo=UTC),
        end=datetime.fromisoformat(end),
        status=status,  # type: ignore[arg-type]
        items=[CoverageItem(account_id=a, reasons=[CoverReason.RENEWING], cover=c) for a, c in items],
    ).model_dump(mode="json")


def test_prune_is_refused_while_plans_or_waits_need_them_naming_each(
    tmp_path: Path, state: Path, book_data, capsys
) -> None:
    assert _import(state, _book(tmp_path, book_data)) == 0
    store = EmbeddedStore(state)
    # Ana is away soon: Ben covers Globex. Ben's own plan ended last month; an old plan
    # of Ana's was withdrawn. Initech has a customer waiting for a reply.
    store.put(
        "coverage_plans",
        "abs-ana",
        _plan("abs-ana", "ana@example.com", "2026-12-05T17:00:00+00:00", [("globex", "ben@example.com")]),
    )
    store.put(
        "coverage_plans",
        "abs-ben-old",
        _plan(
            "abs-ben-old", "ben@example.com", "2026-10-05T17:00:00+00:00", [("initech", "ana@example.com")]
        ),
    )
    store.put(
        "coverage_plans",
        "abs-ana-withdrawn",
        _plan(
            "abs-ana-withdrawn",
            "ana@example.com",
            "2026-12-20T17:00:00+00:00",
            [("acme", "ivy@example.com")],
            status="withdrawn",
        ),
    )
    thread = MailThread(
        thread_id="t-initech",
        mailbox="tas@example.com",
        subject="Upgrade help",
        account_id="initech",
        ta="ben@example.com",
        waiting=True,
        waiting_since=datetime(2026, 11, 21, 9, tzinfo=UTC),
    )
    store.put("mail_threads", "t-initech", thread.model_dump(mode="json"))
    before = EmbeddedStore(state).dump()
    capsys.readouterr()

    assert _import(state, _book(tmp_path, _second_book(book_data), "second.json"), "--prune") == 1

    err = capsys.readouterr().err
    plan = "the coverage plan of ana@example.com's absence abs-ana (until 2026-12-05)"
    assert f"people ben@example.com: covers globex in {plan}" in err
    assert f"accounts globex: is in {plan}" in err
    assert "accounts initech: mail thread t-initech ('Upgrade help') is waiting for a team reply" in err
    assert "people ben@example.com: is the TA of mail thread t-initech ('Upgrade help'), waiting" in err
    assert "ivy@example.com" not in err  # the withdrawn plan holds nobody
    assert "abs-ben-old" not in err  # nor the one that ended
    assert EmbeddedStore(state).dump() == before, "a refused prune writes nothing"


def test_dry_run_shows_the_diff_and_writes_nothing(
    tmp_path: Path, state: Path, book_data, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert _import(state, _book(tmp_path, book_data)) == 0
    _salesforce_moves_acme_renewal(state, monkeypatch, "2027-01-15")
    before = EmbeddedStore(state).dump()
    book_data["accounts"][1]["ae"] = None
    book_data["people"][4]["timezone"] = "America/Denver"
    book_data["accounts"].append({"id": "hooli", "name": "Hooli", "ta": "ben@example.com"})
    capsys.readouterr()

    assert _import(state, _book(tmp_path, _without_initech(book_data)), "--dry-run", "--prune") == 0

    assert EmbeddedStore(state).dump() == before
    out = capsys.readouterr().out.splitlines()
    assert "people: 0 added, 1 changed, 7 unchanged, 0 removed" in out
    assert "  ~ ben@example.com" in out and "      timezone: America/Los_Angeles → America/Denver" in out
    assert "accounts: 1 added, 1 changed, 1 unchanged, 1 removed" in out
    assert "  + hooli" in out
    assert "  ~ globex" in out and "      ae: alex@example.com → null" in out
    assert "  - initech (not in the file)" in out
    assert "  ~ acme" not in out  # only a kept field: nothing would change
    assert any(line.startswith("      renewal_date: kept 2027-01-15, Salesforce owns it") for line in out)
    assert (
        out[-1] == "dry run: nothing written to the store; 1 field(s) kept because another source owns them"
    )


def _without_initech(book_data: dict[str, Any]) -> dict[str, Any]:
    return {**book_data, "accounts": [a for a in book_data["accounts"] if a["id"] != "initech"]}


def test_dry_run_json_lists_each_change_with_its_owner(
    tmp_path: Path, state: Path, book_data, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert _import(state, _book(tmp_path, book_data)) == 0
    _salesforce_moves_acme_renewal(state, monkeypatch, "2027-01-15")
    book_data["accounts"][0]["domains"] = ["acme.com"]
    capsys.readouterr()

    assert _import(state, _book(tmp_path, book_data), "--dry-run", "--json") == 0

    answer = json.loads(capsys.readouterr().out)
    assert answer["dry_run"] is True
    assert answer["summary"]["accounts"] == {"added": 0, "changed": 1, "unchanged": 2, "removed": 0}
    [acme] = answer["records"]
    assert (acme["collection"], acme["id"], acme["status"]) == ("accounts", "acme", "changed")
    assert acme["changes"] == [
        {"field": "domains", "old": [], "new": ["acme.com"], "owner": "book", "applied": True},
        {
            "field": "renewal_date",
            "old": "2027-01-15",
            "new": "2026-12-18",
            "owner": "salesforce",
            "applied": False,
        },
    ]
    assert EmbeddedStore(state).get("accounts", "acme")["domains"] == []


def test_dry_run_of_a_refused_prune_shows_the_diff_and_the_blockers(
    tmp_path: Path, state: Path, book_data, capsys
) -> None:
    assert _import(state, _book(tmp_path, book_data)) == 0
    EmbeddedStore(state).put(
        "coverage_plans",
        "abs-ana",
        _plan("abs-ana", "ana@example.com", "2026-12-05T17:00:00+00:00", [("initech", "ben@example.com")]),
    )
    capsys.readouterr()
    assert _import(state, _book(tmp_path, _without_initech(book_data)), "--dry-run", "--prune") == 1
    captured = capsys.readouterr()
    assert "  - initech (not in the file)" in captured.out
    assert "--prune would be refused: accounts initech: is in the coverage plan" in captured.err


def test_a_timestamp_in_a_date_field_is_stored_as_its_day_in_utc(
    tmp_path: Path, state: Path, book_data
) -> None:
    book_data["accounts"][0]["last_contact"] = "2026-12-01T12:00:00Z"
    book_data["accounts"][0]["renewal_date"] = "2026-12-18T23:30:00-05:00"  # 04:30 on the 19th in UTC
    book_data["accounts"][1]["contract_end"] = "2027-04-30T00:00:00"  # no zone: read as UTC
    book_data["accounts"][0]["domains"] = ["Acme.com", "@acme.io"]
    book_data["accounts"][0]["do_not_contact"] = True
    assert _import(state, _book(tmp_path, book_data)) == 0
    store = EmbeddedStore(state)
    acme = store.get("accounts", "acme")
    assert (acme["last_contact"], acme["renewal_date"]) == ("2026-12-01", "2026-12-19")
    assert (acme["domains"], acme["do_not_contact"]) == (["acme.com", "acme.io"], True)
    assert store.get("accounts", "globex")["contract_end"] == "2027-04-30"
    assert store.get("accounts", "globex")["do_not_contact"] is False


class _SalesforceRacesTheImport(EmbeddedStore):
    """A store where Salesforce's renewal lands after the import read Acme and before it
    writes: the moment a read-then-write import would undo it."""

    raced = False

    def run_transaction(self, fn):  # type: ignore[no-untyped-def]
        if not self.raced:
            self.raced = True
            acme = self.get("accounts", "acme")
            super().put("accounts", "acme", {**acme, "renewal_date": "2027-01-15"})
        return super().run_transaction(fn)


def test_a_renewal_written_while_the_import_runs_is_not_undone(book_data, policy) -> None:
    store = _SalesforceRacesTheImport()
    store.raced = True
    run_import(store, parse_book(book_data), policy)
    store.raced = False
    book_data["accounts"][0]["ae"] = None  # the book changes Acme too, so Acme is written

    report = run_import(store, parse_book(book_data), policy)

    acme = store.get("accounts", "acme")
    assert (acme["renewal_date"], acme["ae"]) == ("2027-01-15", None)
    [diff] = [r for r in report.records if r.id == "acme"]
    assert [(c.field, c.applied) for c in diff.changes] == [("ae", True), ("renewal_date", False)]


class _ThreadArrivesDuringPrune(EmbeddedStore):
    """A customer of Initech writes in after --prune checked and before it removes."""

    armed = False

    def run_transaction(self, fn):  # type: ignore[no-untyped-def]
        if self.armed:
            self.armed = False
            thread = MailThread(
                thread_id="t-late", mailbox="tas@example.com", account_id="initech", waiting=True
            )
            super().put("mail_threads", "t-late", thread.model_dump(mode="json"))
        return super().run_transaction(fn)


def test_prune_checks_again_inside_the_transaction_that_removes(book_data, policy) -> None:
    store = _ThreadArrivesDuringPrune()
    run_import(store, parse_book(book_data), policy, now=NOW)
    store.armed = True

    with pytest.raises(PruneRefusedError) as refused:
        run_import(store, parse_book(_without_initech(book_data)), policy, now=NOW, prune=True)

    assert refused.value.problems == [
        "accounts initech: mail thread t-late ('no subject') is waiting for a team reply"
    ]
    assert "nothing written" in str(refused.value)
    assert store.get("accounts", "initech") is not None
