from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.models import Account, Action, Person, action_id


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
