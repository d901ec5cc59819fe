"""`taops import` on the Firestore emulator: the re-import keeps what Salesforce set
through the deployed on_renewal_changed, a dry run writes nothing, and --prune refuses
while a coverage plan needs an account, then removes it once the plan is withdrawn."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from shared import clients
from shared.cli import main
from shared.models import CoverageItem, CoveragePlan, CoverReason
from shared.sources import salesforce as sf
from shared.store.firestore import FirestoreStore
from tests.pubsub_events import cloud_event

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def _big_book(book_data: dict[str, Any]) -> dict[str, Any]:
    # More accounts than one Firestore ``in`` filter holds (30), so reads come in chunks.
    extra = [
        {"id": f"acct-{n:02}", "name": f"Account {n}", "ta": "ben@example.com", "renewal_date": "2027-06-01"}
        for n in range(40)
    ]
    return {**book_data, "accounts": book_data["accounts"] + extra}


def _renewal_moves(project: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.loads((ROOT / "tests/events/salesforce_cdc_opportunity_update_cometd.json").read_text())
    body["payload"].update({"AccountId": "001ACME", "Type": "Renewal", "CloseDate": "2027-01-15"})
    [event] = sf.normalize_cdc(body, NOW)
    monkeypatch.setenv("TAOPS_STORE", f"firestore:{project}")
    clients.reset()
    try:
        app = create_app("on_renewal_changed", str(ROOT / "main.py"), "cloudevent").test_client()
        headers, data = cloud_event(event.to_json(), "renewal-changed", event.attributes())
        assert app.post("/", headers=headers, data=data).status_code == 200
    finally:
        clients.reset()


def test_import_keeps_salesforce_fields_and_prunes_only_what_nothing_needs(
    firestore_env: str, tmp_path: Path, book_data, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("TAOPS_CLOCK", "2026-11-22T12:00:00Z")
    spec = f"firestore:{firestore_env}"
    book = tmp_path / "book.json"
    book.write_text(json.dumps(_big_book(book_data)))
    assert main(["import", str(book), "--store", spec]) == 0
    _renewal_moves(firestore_env, monkeypatch)
    store = FirestoreStore(project=firestore_env)
    assert store.get("accounts", "acme")["renewal_date"] == "2027-01-15"

    assert main(["import", str(book), "--store", spec]) == 0
    assert store.get("accounts", "acme")["renewal_date"] == "2027-01-15"

    # The next book drops Initech and the extra accounts; Ben covers Initech in Ana's plan.
    plan = CoveragePlan(
        absence_id="abs-ana",
        ta="ana@example.com",
        start=datetime(2026, 11, 30, 8, tzinfo=UTC),
        end=datetime(2026, 12, 5, 17, tzinfo=UTC),
        status="shared",
        items=[CoverageItem(account_id="initech", reasons=[CoverReason.RENEWING], cover="ben@example.com")],
    ).model_dump(mode="json")
    store.put("coverage_plans", "abs-ana", plan)
    smaller = tmp_path / "smaller.json"
    smaller.write_text(json.dumps({**book_data, "accounts": book_data["accounts"][:2]}))
    before = store.dump()
    capsys.readouterr()

    assert main(["import", str(smaller), "--store", spec, "--prune", "--dry-run"]) == 1
    assert main(["import", str(smaller), "--store", spec, "--prune"]) == 1
    assert "accounts initech: is in the coverage plan of ana@example.com's absence abs-ana" in (
        capsys.readouterr().err
    )
    assert store.dump() == before

    store.put("coverage_plans", "abs-ana", {**plan, "status": "withdrawn"})
    assert main(["import", str(smaller), "--store", spec, "--prune"]) == 0
    assert sorted(i for i, _ in store.query("accounts")) == ["acme", "globex"]
    assert store.get("accounts", "acme")["renewal_date"] == "2027-01-15"
    store.close()
