"""The book file: the directory of people and the book of business.

``load_book`` validates everything before anything is written: each record's own fields
(pydantic), then the references between records, and reports every problem of both kinds
in one run. Every problem names the record and the field, e.g.
``accounts[3] (id=acme).ae: bob@example.com is not in the directory``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.exceptions import BookError
from shared.models import (
    ACCOUNT_OWNERS,
    PERSON_OWNERS,
    Account,
    Book,
    Email,
    Owner,
    Person,
    Role,
)

PEOPLE = "people"
ACCOUNTS = "accounts"
OWNERS: Mapping[str, Mapping[str, Owner]] = {PEOPLE: PERSON_OWNERS, ACCOUNTS: ACCOUNT_OWNERS}
# The field of a stored document that repeats its id (``in`` queries read by it).
KEY_FIELD = {PEOPLE: "email", ACCOUNTS: "id"}

_M = TypeVar("_M", bound=BaseModel)
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_ROLE: TypeAdapter[Role] = TypeAdapter(Role)


def _label(section: str, index: int, raw: Any) -> str:
    key = KEY_FIELD[section]
    ident = raw.get(key) if isinstance(raw, dict) else None
    return f"{section}[{index}]" + (f" ({key}={ident})" if isinstance(ident, str) and ident else "")


def _record_problems(where: str, model: type[BaseModel], exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
            msg = "unknown field" + (f" (did you mean {close[0]}?)" if close and len(loc) == 1 else "")
        elif err["type"] == "value_error" and not loc and ": " in msg:
            # A check across fields names its field first ("timezone: ..."): fold it into the path.
            name, _, msg = msg.partition(": ")
            loc = [name]
        problems.append(f"{where}{''.join('.' + p for p in loc)}: {msg}")
    return problems


def _valid(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def _lenient(adapter: TypeAdapter[Any], raw: Any, key: str) -> Any:
    """``raw[key]`` as the model would read it, or None when it is absent or invalid (an
    invalid value is already reported as a field error; references skip it)."""
    if not isinstance(raw, dict) or raw.get(key) is None:
        return None
    return _valid(adapter, raw[key])


def _emails(raw: Any, key: str) -> list[str]:
    values = raw.get(key) if isinstance(raw, dict) else None
    if not isinstance(values, list):
        return []
    return [e for e in (_valid(_EMAIL, v) for v in values if v is not None) if e is not None]


def _text(raw: Any, key: str) -> str | None:
    value = raw.get(key) if isinstance(raw, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _a(role: Role) -> str:
    """The role with its article, as said aloud: "an AE", "a TA"."""
    return f"{'an' if role.value[0] in 'AEIOU' else 'a'} {role.value}"


def _reference_problems(people: Sequence[Any], accounts: Sequence[Any]) -> list[str]:
    """Every reference between records that does not hold. Works on the raw records, so a
    record with a bad field still has its references checked (the bad field itself is
    skipped: it is reported already)."""
    problems: list[str] = []
    people_at = [_label(PEOPLE, i, r) for i, r in enumerate(people)]
    accounts_at = [_label(ACCOUNTS, i, r) for i, r in enumerate(accounts)]

    roles: dict[str, Role | None] = {}
    first: dict[str, int] = {}
    for i, raw in enumerate(people):
        email = _lenient(_EMAIL, raw, "email")
        if email is None:
            continue
        if email in first:
            problems.append(f"{people_at[i]}.email: {email} is already used by people[{first[email]}]")
            continue
        first[email] = i
        roles[email] = _lenient(_ROLE, raw, "role")

    def check(at: str, email: str, wanted: Role | None) -> None:
        if email not in roles:
            problems.append(f"{at}: {email} is not in the directory")
            return
        role = roles[email]
        if wanted is not None and role is not None and role is not wanted:
            problems.append(f"{at}: {email} is {_a(role)}, not {_a(wanted)}")

    for i, raw in enumerate(people):
        manager = _lenient(_EMAIL, raw, "manager")
        if manager is not None and manager == _lenient(_EMAIL, raw, "email"):
            problems.append(f"{people_at[i]}.manager: a person cannot be their own manager")
        elif manager is not None:
            check(f"{people_at[i]}.manager", manager, None)
        for peer in _emails(raw, "coverage_peers"):
            check(f"{people_at[i]}.coverage_peers", peer, Role.TA)

    for key in ("id", "salesforce_id", "vitally_id"):
        seen: dict[str, int] = {}
        for i, raw in enumerate(accounts):
            value = _text(raw, key)
            if value is None:
                continue
            if value in seen:
                problems.append(f"{accounts_at[i]}.{key}: {value} is already used by accounts[{seen[value]}]")
            else:
                seen[value] = i
    team = {"ta": Role.TA, "ae": Role.AE, "ce": Role.CE, "ie": Role.IE}
    for i, raw in enumerate(accounts):
        for key, role in team.items():
            email = _lenient(_EMAIL, raw, key)
            if email is not None:
                check(f"{accounts_at[i]}.{key}", email, role)
    return problems


def _records(data: dict[str, Any], section: str, problems: list[str]) -> list[Any]:
    if section not in data:
        problems.append(f"{section}: missing (a list of records)")
        return []
    if not isinstance(data[section], list):
        problems.append(f"{section}: must be a list")
        return []
    return list(data[section])


def _validated(section: str, raws: list[Any], model: type[_M], problems: list[str]) -> list[_M]:
    """The records that are valid on their own; each field error of the others is added
    to ``problems``."""
    valid = []
    for i, raw in enumerate(raws):
        try:
            valid.append(model.model_validate(raw))
        except ValidationError as exc:
            problems += _record_problems(_label(section, i, raw), model, exc)
    return valid


def parse_book(data: Any, source: str = "<book>") -> Book:
    """Validate book data (already parsed JSON). Raises ``BookError`` listing every problem:
    each record's fields and every reference, all in one run."""
    if not isinstance(data, dict):
        raise BookError(source, ['(top level): must be an object with "people" and "accounts"'])
    problems = [
        f"{key}: unknown field (a book has people and accounts)"
        for key in data
        if key not in Book.model_fields
    ]
    raw_people = _records(data, PEOPLE, problems)
    raw_accounts = _records(data, ACCOUNTS, problems)
    people = _validated(PEOPLE, raw_people, Person, problems)
    accounts = _validated(ACCOUNTS, raw_accounts, Account, problems)
    problems += _reference_problems(raw_people, raw_accounts)
    if problems:
        raise BookError(source, problems)
    return Book.model_construct(people=people, accounts=accounts)


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


def book_schema() -> dict[str, Any]:
    """The published JSON Schema of the book file, generated from the models, each field
    marked with its owner (``x-taops-owner``, see ``shared.models.ACCOUNT_OWNERS``)."""
    schema = Book.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "taops book of business"
    schema["description"] = (
        "The directory of people and the book of business, imported with `taops import BOOK.json`. "
        "Each field's x-taops-owner says which system's word counts: re-importing updates only "
        "the fields the book owns (unless --force). "
        "Generated from shared/models.py by `taops schema --write`; do not edit by hand."
    )
    for name, owners in (("Person", PERSON_OWNERS), ("Account", ACCOUNT_OWNERS)):
        for field_name, prop in schema["$defs"][name]["properties"].items():
            prop["x-taops-owner"] = owners[field_name].value
    return schema
