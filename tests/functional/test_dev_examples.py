"""What `taops dev` suggests trying is built from the book it was given."""

from __future__ import annotations

import json
from pathlib import Path

from shared.dev.examples import curl_lines


def test_the_suggested_time_off_is_for_a_ta_of_the_given_book(tmp_path: Path, book_data) -> None:
    for person in book_data["people"]:
        if person["role"] == "TA":
            person["email"], person["name"] = "zoe@acme.test", "Zoe Park"
            break
    book = tmp_path / "book.json"
    book.write_text(json.dumps(book_data))
    urls = {
        name: f"http://127.0.0.1:1/{name}"
        for name in ("deel_webhook", "salesforce_webhook", "vitally_webhook")
    }
    env = {"TAOPS_DEEL_SIGNING_KEY": "k", "TAOPS_SALESFORCE_TOKEN": "t", "TAOPS_VITALLY_TOKEN": "v"}
    deel = [line for line in curl_lines(urls, env, book) if "deel_webhook" in line]
    assert len(deel) == 2
    assert all('"work_email":"zoe@acme.test"' in line and '"name":"Zoe Park"' in line for line in deel)
    assert not any("ana@example.com" in line for line in deel)
