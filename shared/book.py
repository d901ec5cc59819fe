"""The book file: the directory of people and the book of business.

``load_book`` validates everything before anything is written: each record's own fields
(pydantic), then the references between records. Every problem names the record and the
field, e.g. ``accounts[3] (id=acme).ae: bob@example.com is not in the directory``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from shared.exceptions import BookError
from shared.messages import with_article
from shared.models import Account, Book, Person, Role
from shared.policy import Policy
from shared.rules.segmentation import segment_for
from shared.store import Store

PEOPLE = "people"
ACCOUNTS = "accounts"


def _label(data: Any, section: str, index: int) -> str:
    record = data.get(section, []) if isinstance(data, dict) else []
    key = "email" if section == "people" else "id"
    ident = record[index].get(key) if index < len(record) and isinstance(record[index], dict) else None
    return f"{section}[{index}]" + (f" ({key}={ident})" if ident else "")


def _pydantic_problems(data: Any, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) >= 2 and loc[0] in ("people", "accounts") and isinstance(loc[1], int):
            where = _label(data, str(loc[0]), loc[1])
            rest = ".".join(str(p) for p in loc[2:])
            where += f".{rest}" if rest else ""
        else:
            where = ".".join(str(p) for p in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        # A model-level check names its own field first ("timezone: ..."): fold it into the path.
        if err["type"] == "value_error" and ": " in msg and len(loc) == 2:
            field_name, _, msg = msg.partition(": ")
            where += f".{field_name}"
        problems.append(f"{where}: {msg}")
    return problems


def _reference_problems(book: Book) -> list[str]:
    problems: list[str] = []
    people = {p.email: p for p in book.people}

    for email, n in Counter(p.email for p in book.people).items():
        if n > 1:
            problems.append(f"people (email={email}).email: appears {n} times")
    for field in ("id", "salesforce_id", "vitally_id"):
        values = [getattr(a, field) for a in book.accounts if getattr(a, field)]
        for value, n in Counter(values).items():
            if n > 1:
                problems.append(f"accounts ({field}={value}).{field}: appears {n} times")

    for i, person in enumerate(book.people):
        where = f"people[{i}] (email={person.email})"
        if person.manager and person.manager not in people:
            problems.append(f"{where}.manager: {person.manager} is not in the directory")
        for peer in person.coverage_peers:
            if peer not in people:
                problems.append(f"{where}.coverage_peers: {peer} is not in the directory")
            elif people[peer].role is not Role.TA:
                problems.append(
                    f"{where}.coverage_peers: {peer} is {with_article(people[peer].role.value)}, not a TA"
                )

    expected = {"ta": {Role.TA}, "ae": {Role.AE}, "ce": {Role.CE}, "ie": {Role.IE}}
    for i, account in enumerate(book.accounts):
        where = f"accounts[{i}] (id={account.id})"
        for field, roles in expected.items():
            email = getattr(account, field)
            if email is None:
                continue
            if email not in people:
                problems.append(f"{where}.{field}: {email} is not in the directory")
            elif people[email].role not in roles:
                problems.append(
                    f"{where}.{field}: {email} is {with_article(people[email].role.value)}, "
                    f"not {with_article(field.upper())}"
                )
        if account.seats_used and account.seats_licensed == 0:
            problems.append(f"{where}.seats_licensed: 0 while {account.seats_used} seats are used")
    return problems


def parse_book(data: Any, source: str = "<book>") -> Book:
    """Validate book data (already parsed JSON). Raises ``BookError`` listing every problem."""
    if not isinstance(data, dict):
        raise BookError(source, ['(top level): must be an object with "people" and "accounts"'])
    try:
        book = Book.model_validate(data)
    except ValidationError as exc:
        raise BookError(source, _pydantic_problems(data, exc)) from None
    problems = _reference_problems(book)
    if problems:
        raise BookError(source, problems)
    return book


def load_book(path: str | Path) -> Book:
    """Read and validate a book file; ``BookError`` names every bad record and field."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise BookError(str(path), [f"(file): cannot read: {exc.strerror}"]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BookError(
            str(path), [f"(file): not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}"]
        ) from None
    return parse_book(data, str(path))


def with_segments(account: Account, policy: Policy) -> Account:
    """The account with segment and managed filled in from the policy when the book left them out."""
    if account.segment is not None and account.managed is not None:
        return account
    decision = segment_for(account.developers, account.arr, policy.segmentation)
    return account.model_copy(
        update={
            "segment": account.segment or decision.segment,
            "managed": decision.managed if account.managed is None else account.managed,
        }
    )


def import_book(store: Store, book: Book, policy: Policy) -> tuple[int, int]:
    """Write a validated book into the store; returns (people, accounts) written."""
    writes: list[tuple[str, str, dict[str, Any]]] = [
        (PEOPLE, p.email, p.model_dump(mode="json")) for p in book.people
    ]
    writes += [(ACCOUNTS, a.id, with_segments(a, policy).model_dump(mode="json")) for a in book.accounts]
    store.put_many(writes)
    return len(book.people), len(book.accounts)


def book_schema() -> dict[str, Any]:
    """The published JSON Schema of the book file, generated from the models."""
    schema = Book.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "taops book of business"
    schema["description"] = (
        "The directory of people and the book of business, imported with `taops import BOOK.json`. "
        "Generated from shared/models.py by `taops schema --write`; do not edit by hand."
    )
    return schema


__all__ = [
    "ACCOUNTS",
    "PEOPLE",
    "Account",
    "Book",
    "Person",
    "book_schema",
    "import_book",
    "load_book",
    "parse_book",
]
