"""`taops import`, `taops schema` and `taops policy check` through the real console entry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.book import book_schema
from shared.cli import main
from shared.models import ACCOUNT_OWNERS, Owner
from shared.policy import DEFAULT_POLICY_PATH
from shared.store import EmbeddedStore

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, data: dict[str, Any], name: str = "book.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_import_writes_people_and_accounts_with_segments(tmp_path: Path, book_data, capsys) -> None:
    state = tmp_path / "state.json"
    code = main(["import", str(_write(tmp_path, book_data)), "--store", f"embedded:{state}"])
    assert code == 0
    assert "imported 8 people and 3 accounts" in capsys.readouterr().out
    store = EmbeddedStore(state)
    acme = store.get("accounts", "acme")
    assert (acme["segment"], acme["managed"]) == ("Strategic", True)
    initech = store.get("accounts", "initech")
    assert (initech["segment"], initech["managed"]) == ("Commercial", True)
    assert store.get("people", "ana@example.com")["coverage_peers"] == ["ben@example.com"]


def _import_fails(tmp_path: Path, data: dict[str, Any], capsys) -> str:
    state = tmp_path / "state.json"
    code = main(["import", str(_write(tmp_path, data)), "--store", f"embedded:{state}"])
    assert code == 1
    assert not state.exists(), "nothing may be written when the book is invalid"
    return capsys.readouterr().err


def test_an_account_whose_ae_is_not_in_the_directory_is_named(tmp_path: Path, book_data, capsys) -> None:
    book_data["accounts"][1]["ae"] = "ghost@example.com"
    err = _import_fails(tmp_path, book_data, capsys)
    assert "accounts[1] (id=globex).ae: ghost@example.com is not in the directory" in err


def test_an_account_whose_ta_is_not_a_ta_is_named(tmp_path: Path, book_data, capsys) -> None:
    book_data["accounts"][0]["ta"] = "alex@example.com"
    err = _import_fails(tmp_path, book_data, capsys)
    assert "accounts[0] (id=acme).ta: alex@example.com is an AE, not a TA" in err


def test_a_duplicate_account_id_is_named(tmp_path: Path, book_data, capsys) -> None:
    book_data["accounts"].append(dict(book_data["accounts"][0]))
    book_data["accounts"][-1]["salesforce_id"] = "other"
    book_data["accounts"][-1]["vitally_id"] = "other"
    err = _import_fails(tmp_path, book_data, capsys)
    assert "accounts[3] (id=acme).id: acme is already used by accounts[0]" in err


def test_a_ta_without_a_timezone_is_named(tmp_path: Path, book_data, capsys) -> None:
    book_data["people"][3]["timezone"] = None
    err = _import_fails(tmp_path, book_data, capsys)
    assert "people[3] (email=ana@example.com).timezone: a TA needs an IANA time zone" in err


def test_every_problem_is_listed_not_just_the_first(tmp_path: Path, book_data, capsys) -> None:
    book_data["accounts"][0]["renewal_date"] = "next spring"
    book_data["accounts"][2]["developers"] = -5
    err = _import_fails(tmp_path, book_data, capsys)
    assert "accounts[0] (id=acme).renewal_date:" in err
    assert "accounts[2] (id=initech).developers:" in err


def test_an_unknown_field_is_refused_by_its_name(tmp_path: Path, book_data, capsys) -> None:
    book_data["accounts"][0]["last_contacted"] = "2026-11-02"
    book_data["people"][0]["phone"] = "+1 555 0100"
    err = _import_fails(tmp_path, book_data, capsys)
    assert "accounts[0] (id=acme).last_contacted: unknown field (did you mean last_contact?)" in err
    assert "people[0] (email=vp@example.com).phone: unknown field" in err


def test_field_errors_and_reference_errors_are_all_reported_in_one_run(
    tmp_path: Path, book_data, capsys
) -> None:
    people, accounts = book_data["people"], book_data["accounts"]
    people[3]["manager"] = "nobody@example.com"  # unknown manager
    people[3]["timezone"] = "Mars/Olympus"  # a field error on the same record
    people[4]["coverage_peers"] = ["alex@example.com", "ghost@example.com"]
    people.append({**people[6], "name": "Cole again"})  # duplicate email
    accounts[0]["ta"] = "alex@example.com"  # not a TA
    accounts[0]["renewal_date"] = "next spring"
    accounts[1]["ce"] = "ghost@example.com"
    accounts[1]["seats_used"] = "many"
    accounts[2]["salesforce_id"] = "001ACME"  # Acme's
    accounts[2]["vitally_id"] = 42

    err = _import_fails(tmp_path, book_data, capsys)

    expected = [
        "people[3] (email=ana@example.com).timezone: 'Mars/Olympus' is not an IANA time zone",
        "people[3] (email=ana@example.com).manager: nobody@example.com is not in the directory",
        "people[4] (email=ben@example.com).coverage_peers: alex@example.com is an AE, not a TA",
        "people[4] (email=ben@example.com).coverage_peers: ghost@example.com is not in the directory",
        "people[8] (email=cole@example.com).email: cole@example.com is already used by people[6]",
        "accounts[0] (id=acme).renewal_date:",
        "accounts[0] (id=acme).ta: alex@example.com is an AE, not a TA",
        "accounts[1] (id=globex).seats_used:",
        "accounts[1] (id=globex).ce: ghost@example.com is not in the directory",
        "accounts[2] (id=initech).vitally_id:",
        "accounts[2] (id=initech).salesforce_id: 001ACME is already used by accounts[0]",
    ]
    missing = [line for line in expected if line not in err]
    assert not missing, err
    assert err.count("\n  - ") == len(expected), err


def test_a_person_who_manages_themselves_is_named(tmp_path: Path, book_data, capsys) -> None:
    book_data["people"][2]["manager"] = "mara@example.com"
    err = _import_fails(tmp_path, book_data, capsys)
    assert "people[2] (email=mara@example.com).manager: a person cannot be their own manager" in err


def test_a_book_that_is_not_json_names_the_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "book.json"
    bad.write_text('{"people": [\n  {"email": }\n]}')
    assert main(["import", str(bad), "--store", "embedded"]) == 1
    assert "not JSON: line 2" in capsys.readouterr().err


def test_the_committed_schema_is_current() -> None:
    assert main(["schema", "--check", "--out", str(ROOT / "docs" / "book.schema.json")]) == 0


def test_the_schema_marks_each_field_with_its_owner() -> None:
    defs = book_schema()["$defs"]
    assert defs["Account"]["properties"]["renewal_date"]["x-taops-owner"] == "salesforce"
    assert defs["Person"]["properties"]["manager"]["x-taops-owner"] == "book"
    assert all("x-taops-owner" in prop for prop in defs["Account"]["properties"].values())


def test_schema_check_fails_when_the_file_is_stale(tmp_path: Path) -> None:
    stale = tmp_path / "book.schema.json"
    stale.write_text("{}")
    assert main(["schema", "--check", "--out", str(stale)]) == 1
    assert main(["schema", "--write", "--out", str(stale)]) == 0
    assert json.loads(stale.read_text())["title"] == "taops book of business"


def test_policy_check_names_the_bad_fields(tmp_path: Path, capsys) -> None:
    data = yaml.safe_load(DEFAULT_POLICY_PATH.read_text())
    data["health"]["yellow_below"] = 42
    data["coverage"]["min_open_tickets"] = 0
    bad = tmp_path / "policy.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["policy", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "health.yellow_below:" in err and "coverage.min_open_tickets:" in err
    assert main(["policy", "check"]) == 0


def test_import_with_an_invalid_policy_fails_before_touching_the_store(
    tmp_path: Path, book_data, capsys
) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("segmentation: {}\n")
    state = tmp_path / "state.json"
    assert (
        main(
            ["import", str(_write(tmp_path, book_data)), "--store", f"embedded:{state}", "--policy", str(bad)]
        )
        == 1
    )
    assert "segmentation.tiers: Field required" in capsys.readouterr().err
    assert not state.exists()


def test_the_installed_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("taops")
    result = subprocess.run([str(exe), "policy", "check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "is valid" in result.stdout


@pytest.mark.parametrize("argv", [[], ["import"], ["nonsense"]])
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_the_readme_ownership_table_is_the_one_in_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    rows = {
        "the book": Owner.BOOK,
        "Salesforce": Owner.SALESFORCE,
        "Vitally": Owner.VITALLY,
        "taops": Owner.TAOPS,
    }
    for label, owner in rows.items():
        [row] = [line for line in readme.splitlines() if line.startswith(f"| {label} | ")]
        named = set(re.findall(r"`([a-z_]+)`", row))
        assert named == {f for f, o in ACCOUNT_OWNERS.items() if o is owner}, label
