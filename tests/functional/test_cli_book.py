"""`taops import`, `taops schema` and `taops policy check` through the real console entry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.cli import main
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
    assert "accounts (id=acme).id: appears 2 times" in err


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


def test_a_book_that_is_not_json_names_the_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "book.json"
    bad.write_text('{"people": [\n  {"email": }\n]}')
    assert main(["import", str(bad), "--store", "embedded"]) == 1
    assert "not JSON: line 2" in capsys.readouterr().err


def test_the_committed_schema_is_current() -> None:
    assert main(["schema", "--check", "--out", str(ROOT / "docs" / "book.schema.json")]) == 0


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
