"""The domain as the handbook names it: people, the book of business, absences and
their coverage plans, pooled-mailbox threads, health category changes, actions.

Models validate at the boundary and reject bad data with the field's name in the
message. Documents are stored in their JSON form (``model_dump(mode="json")``):
ISO-8601 strings for dates and times, always UTC for times.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return value


Email = Annotated[str, AfterValidator(_email)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]


class _Model(BaseModel):
    # Unknown fields are refused: a misspelt column must not silently vanish.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Role(StrEnum):
    TA = "TA"
    AE = "AE"
    CE = "CE"
    IE = "IE"
    TA_MANAGER = "TA_MANAGER"
    TA_DIRECTOR = "TA_DIRECTOR"
    TS_VP = "TS_VP"


class HealthCategory(StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class Segment(StrEnum):
    STRATEGIC = "Strategic"
    ENTERPRISE = "Enterprise"
    COMMERCIAL = "Commercial"


class Person(_Model):
    """Someone in the directory. The email is the id everywhere."""

    email: Email
    name: str = Field(min_length=1)
    role: Role
    manager: Email | None = None
    timezone: TimeZoneName | None = None
    slack_id: str | None = None
    coverage_peers: list[Email] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ta_needs_timezone(self) -> Person:
        # A TA's absences and cadences are read in their own time zone.
        if self.role is Role.TA and self.timezone is None:
            raise ValueError("timezone: a TA needs an IANA time zone")
        if self.email in self.coverage_peers:
            raise ValueError("coverage_peers: a person cannot cover for themselves")
        return self


class SavePlan(_Model):
    """A Lighthouse (churn save) plan on an unhealthy account."""

    opened_at: date | None = None
    owner: Email | None = None
    summary: str | None = None
    vitally_task_id: str | None = None


class Account(_Model):
    """One customer in the book of business."""

    id: str = Field(min_length=1)
    salesforce_id: str | None = None
    vitally_id: str | None = None
    name: str = Field(min_length=1)
    ta: Email | None = None
    ae: Email | None = None
    ce: Email | None = None
    ie: Email | None = None
    champions: list[Email] = Field(default_factory=list)
    # Email domains of the customer (``acme.com``): a pooled-mailbox sender on one of them
    # belongs to this account even when they are not a named champion.
    domains: list[str] = Field(default_factory=list)
    segment: Segment | None = None
    managed: bool | None = None
    arr: float = Field(default=0, ge=0)
    developers: int = Field(default=0, ge=0)
    seats_licensed: int = Field(default=0, ge=0)
    seats_used: int = Field(default=0, ge=0)
    contract_start: date | None = None
    contract_end: date | None = None
    renewal_date: date | None = None
    renewal_stage: str | None = None
    renewal_opportunity_id: str | None = None
    renewal_amount: float | None = Field(default=None, ge=0)
    expansion_opportunity: bool = False
    health_score: float | None = Field(default=None, ge=0, le=10)
    health_category: HealthCategory | None = None
    lighthouse_active: bool = False
    save_plan: SavePlan | None = None
    slack_channel: str | None = None
    slack_last_activity: AwareDatetime | None = None
    open_tickets: int = Field(default=0, ge=0)
    deployed_version: str | None = None
    versions_behind: int = Field(default=0, ge=0)
    last_contact: date | None = None

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        cleaned = [d.strip().lower().lstrip("@") for d in value]
        for domain in cleaned:
            if "." not in domain or "@" in domain or " " in domain:
                raise ValueError(f"{domain!r} is not an email domain (e.g. acme.com)")
        return cleaned

    @model_validator(mode="after")
    def _contract_term_in_order(self) -> Account:
        if self.contract_start and self.contract_end and self.contract_end < self.contract_start:
            raise ValueError("contract_end: before contract_start")
        return self


class AbsenceStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    CANCELED = "CANCELED"
    USED = "USED"


class Absence(_Model):
    """Time off logged in Deel, resolved to UTC instants in the person's time zone."""

    id: str = Field(min_length=1)
    person: Email
    start_date: date
    end_date: date
    start_half_day: bool = False
    end_half_day: bool = False
    type: str | None = None
    status: AbsenceStatus
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    source_version: AwareDatetime | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Absence:
        if self.end_date < self.start_date:
            raise ValueError("end_date: before start_date")
        return self


class CoverReason(StrEnum):
    RENEWING = "renewing"
    LIGHTHOUSE = "lighthouse"
    SLACK_ACTIVE_WITH_TICKETS = "slack_active_with_tickets"


class CoverageItem(_Model):
    account_id: str
    reasons: list[CoverReason] = Field(min_length=1)
    cover: Email


class CoveragePlan(_Model):
    """Which accounts need cover during an absence, and who covers each."""

    absence_id: str
    ta: Email
    start: AwareDatetime
    end: AwareDatetime
    status: Literal["draft", "shared", "withdrawn"]
    items: list[CoverageItem] = Field(default_factory=list)
    accounts_without_cover_needs: int = 0


class MailThread(_Model):
    """A customer thread in the pooled TA mailbox (metadata only, never bodies).

    While the team owes a reply, ``waiting_since`` is the oldest unanswered customer
    message, ``deadline_at`` the SLA breach on the policy's clock, ``sla_level`` the last
    step taken (0 the reminder, 1… the escalation ladder; None before any), and
    ``next_sla_level``/``next_sla_at`` the step its timer will take.
    """

    thread_id: str
    mailbox: Email
    subject: str = ""
    customer_address: Email | None = None
    customer_name: str | None = None
    account_id: str | None = None
    ta: Email | None = None
    waiting: bool = False
    waiting_since: AwareDatetime | None = None
    waiting_sender: str | None = None
    clock_timezone: str | None = None
    deadline_at: AwareDatetime | None = None
    sla_level: int | None = None
    next_sla_level: int | None = None
    next_sla_at: AwareDatetime | None = None
    sla_timer: str | None = None
    last_customer_message_at: AwareDatetime | None = None
    # Recent customer messages' times (bounded): the wait is the oldest one after the
    # latest team reply, whatever order the messages arrived in.
    customer_messages_at: list[AwareDatetime] = Field(default_factory=list)
    last_team_reply_at: AwareDatetime | None = None
    last_message_at: AwareDatetime | None = None
    last_message_from_team: bool | None = None
    answered_waits: int = 0

    @model_validator(mode="before")
    @classmethod
    def _earlier_shape(cls, data: Any) -> Any:
        # Threads stored before the SLA engine carried escalation_level and no waiting flag.
        if isinstance(data, dict) and "escalation_level" in data:
            data = {k: v for k, v in data.items() if k != "escalation_level"}
            data.setdefault("waiting", data.get("waiting_since") is not None)
            if data.get("waiting_since"):
                data.setdefault("customer_messages_at", [data["waiting_since"]])
        return data


class HealthChange(_Model):
    """One line of the handbook's "List of Health Score Category Changes"."""

    account_id: str
    at: AwareDatetime
    old_category: HealthCategory | None
    new_category: HealthCategory
    score: float | None = None
    event_id: str | None = None


def utc_text(moment: datetime) -> str:
    """A stored instant: ISO-8601 in UTC with a ``Z``, as pydantic writes model times, so
    every time in the store compares correctly as text."""
    if moment.tzinfo is None:
        raise ValueError("stored times must be timezone-aware")
    return _utc_text(moment)


# Each event writes the same few moments several times (its marker, its timers, the
# replay clock); equal aware datetimes are the same instant, so they share one text.
@lru_cache(maxsize=1024)
def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def action_id(idempotency_key: str) -> str:
    """A stable document id for an action, derived from its business meaning."""
    return "act_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


class Action(BaseModel):
    """Something taops will do in the world. Kind-specific fields ride along as extras."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    id: str = ""
    kind: str = Field(pattern=r"^[a-z]+\.[a-z_]+$")
    at: AwareDatetime
    not_before: AwareDatetime | None = None
    recipients: list[Email] = Field(default_factory=list)
    account_id: str | None = None
    reason: str = Field(min_length=1)
    idempotency_key: str = Field(min_length=1)

    @model_validator(mode="after")
    def _id_from_key(self) -> Action:
        expected = action_id(self.idempotency_key)
        if not self.id:
            self.id = expected
        elif self.id != expected:
            raise ValueError("id: must be derived from idempotency_key")
        return self


def timer_id(key: str) -> str:
    """A stable document id for a timer, derived from the reaction it stands for."""
    return "tmr_" + hashlib.sha256(key.encode()).hexdigest()[:24]


class Timer(BaseModel):
    """A durable timer: at ``due_at`` the tick of ``job`` fires it, and the ``kind``'s
    handler re-decides from the state of ``subject`` at that moment (the reply may have
    come, people may have left); nothing is fixed at scheduling time but the key."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str = ""
    key: str = Field(min_length=1)  # the idempotency key of the reaction it stands for
    kind: str = Field(min_length=1)  # whose handler re-decides: "sla"
    job: str = Field(min_length=1)  # the cadence job whose ticks fire it: "sla-check"
    due_at: AwareDatetime
    subject: str = Field(min_length=1)  # "collection/document id" it re-evaluates
    data: dict[str, Any] = Field(default_factory=dict)
    scheduled_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _id_from_key(self) -> Timer:
        expected = timer_id(self.key)
        if not self.id:
            self.id = expected
        elif self.id != expected:
            raise ValueError("id: must be derived from key")
        return self


class Book(_Model):
    """The book file: the directory of people and the book of business."""

    people: list[Person]
    accounts: list[Account]

    @field_validator("people", "accounts", mode="before")
    @classmethod
    def _list_required(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must be a list")
        return value
