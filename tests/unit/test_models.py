from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.models import ACCOUNT_OWNERS, PERSON_OWNERS, Account, Action, Owner, Person, action_id


def _error_fields(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in exc.errors()]


def test_a_ta_without_a_timezone_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        Person(email="ana@example.com", name="Ana", role="TA")
    assert "timezone: a TA needs an IANA time zone" in str(err.value)


def test_an_ae_may_have_no_timezone() -> None:
    assert Person(email="Alex@Example.com", name="Alex", role="AE").email == "alex@example.com"


def test_an_unknown_timezone_names_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        Person(email="a@example.com", name="A", role="AE", timezone="Mars/Olympus")
    assert any(f.startswith("timezone:") and "IANA" in f for f in _error_fields(err.value))


def test_an_unknown_role_names_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        Person(email="a@example.com", name="A", role="CSM")
    assert any(f.startswith("role:") for f in _error_fields(err.value))


def test_account_rejects_negative_arr_and_out_of_range_health_score_by_field() -> None:
    with pytest.raises(ValidationError) as err:
        Account(id="x", name="X", arr=-1, health_score=11)
    fields = _error_fields(err.value)
    assert any(f.startswith("arr:") for f in fields)
    assert any(f.startswith("health_score:") for f in fields)


def test_account_rejects_a_misspelt_field() -> None:
    with pytest.raises(ValidationError) as err:
        Account(id="x", name="X", renwal_date="2026-12-01")  # type: ignore[call-arg]
    assert any(f.startswith("renwal_date:") for f in _error_fields(err.value))


def test_action_id_is_derived_from_its_idempotency_key() -> None:
    at = datetime(2026, 11, 22, tzinfo=UTC)
    a = Action(kind="slack.message", at=at, reason="r", idempotency_key="ooo:abs1:acme:share", channel="C1")
    b = Action(kind="slack.message", at=at, reason="other words", idempotency_key="ooo:abs1:acme:share")
    assert a.id == b.id == action_id("ooo:abs1:acme:share")
    assert a.model_dump(mode="json")["channel"] == "C1"  # the kind's own fields ride along


def test_action_with_a_forged_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="id: must be derived"):
        Action(
            id="act_x",
            kind="email.send",
            at=datetime(2026, 1, 1, tzinfo=UTC),
            reason="r",
            idempotency_key="k",
        )


def test_action_requires_a_timezone_aware_time() -> None:
    with pytest.raises(ValidationError) as err:
        Action(kind="email.send", at=datetime(2026, 1, 1), reason="r", idempotency_key="k")
    assert any(f.startswith("at:") for f in _error_fields(err.value))


@pytest.mark.parametrize(
    ("given", "day"),
    [
        ("2026-12-01", "2026-12-01"),
        ("2026-12-01T12:00:00Z", "2026-12-01"),
        ("2026-12-01T23:30:00-05:00", "2026-12-02"),  # already the 2nd in UTC
        ("2026-12-02T00:30:00+02:00", "2026-12-01"),
        ("2026-12-01 08:00:00", "2026-12-01"),  # no zone: read as UTC
        ("2026-12-01T12:00:00.123456Z", "2026-12-01"),
    ],
)
def test_a_date_field_takes_a_timestamp_as_its_day_in_utc(given: str, day: str) -> None:
    account = Account(id="x", name="X", last_contact=given, renewal_date=given)
    assert account.model_dump(mode="json")["last_contact"] == day
    assert account.model_dump(mode="json")["renewal_date"] == day


@pytest.mark.parametrize("given", ["2026-12-01Tnoon", "next spring", "2026-13-01"])
def test_a_date_field_that_is_neither_names_the_field(given: str) -> None:
    with pytest.raises(ValidationError) as err:
        Account(id="x", name="X", contract_end=given)
    assert [f.split(":")[0] for f in _error_fields(err.value)] == ["contract_end"]


def test_an_account_knows_its_domains_and_whether_it_may_be_contacted() -> None:
    account = Account(id="x", name="X", domains=["Acme.com", "@acme.io"], do_not_contact=True)
    assert (account.domains, account.do_not_contact) == (["acme.com", "acme.io"], True)
    assert Account(id="y", name="Y").do_not_contact is False
    with pytest.raises(ValidationError) as err:
        Account(id="z", name="Z", do_not_contact="perhaps")
    assert any(f.startswith("do_not_contact:") for f in _error_fields(err.value))


def test_every_field_of_a_person_and_an_account_has_exactly_one_owner() -> None:
    assert set(PERSON_OWNERS) == set(Person.model_fields)
    assert set(ACCOUNT_OWNERS) == set(Account.model_fields)
    assert ACCOUNT_OWNERS["renewal_date"] is Owner.SALESFORCE
    assert ACCOUNT_OWNERS["seats_used"] is Owner.VITALLY
    assert ACCOUNT_OWNERS["lighthouse_active"] is Owner.TAOPS
    assert ACCOUNT_OWNERS["ta"] is Owner.BOOK
