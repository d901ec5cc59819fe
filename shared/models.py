"""The domain as the handbook names it: people, the book of business, absences and
their coverage plans, pooled-mailbox threads, health category changes, actions.

Models validate at the boundary and reject bad data with the field's name in the
message. Documents are stored in their JSON form (``model_dump(mode="json")``):
ISO-8601 strings for dates and times, always UTC for times.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
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


def _date_or_timestamp(value: Any) -> Any:
    # Exports give a timestamp where the book means a day ("last_contact":
    # "2026-12-01T12:00:00Z"): the day it falls on in UTC; a timestamp without a zone is
    # read as UTC. Anything else goes on to pydantic's own date parsing and its errors.
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and len(text := value.strip()) > 10 and text[10] in "Tt ":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is neither a date (YYYY-MM-DD) nor an ISO-8601 timestamp") from None
    else:
        return value
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


Email = Annotated[str, AfterValidator(_email)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
# A day in the book: ``2026-12-01``, or a timestamp normalised to its day in UTC.
BookDate = Annotated[
    date,
    BeforeValidator(_date_or_timestamp),
    WithJsonSchema(
        {
            "type": "string",
            "anyOf": [{"format": "date"}, {"format": "date-time"}],
            "description": "A day (YYYY-MM-DD); a timestamp is accepted and kept as its day in UTC.",
        }
    ),
]


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

    opened_at: BookDate | None = None
    owner: Email | None = None
    summary: str | None = None
    vitally_task_id: str | None = None
    # Set by taops when it asks for the plan: by when, and why (lighthouse or yellow).
    due_date: date | None = None
    requested_for: HealthCategory | None = None


class HealthObservation(_Model):
    """One health score Vitally reported, as the account's recent history keeps it."""

    at: AwareDatetime
    score: float
    category: HealthCategory


class HealthReaction(_Model):
    """The category taops last reacted to (after it held ``health.debounce_hours``), and
    since when it held; a category that flaps back to it needs no reaction."""

    category: HealthCategory | None = None
    since: AwareDatetime | None = None


class SeatObservation(_Model):
    """One seat count Vitally reported, as the account's recent history keeps it (``at``
    None: the count the account had before taops saw it change)."""

    at: AwareDatetime | None = None
    used: int = Field(ge=0)
    licensed: int = Field(ge=0)


class SeatAlerts(_Model):
    """The seat thresholds the AE was told of in one contract term
    (``shared.rules.seats``): each once per term."""

    term: str = Field(min_length=1)
    term_start: date | None = None
    term_end: date | None = None
    percents: list[int] = Field(default_factory=list)
    at: AwareDatetime | None = None


class RenewalProcess(_Model):
    """The 120-day renewal process taops started for one renewal date."""

    renewal_date: date
    started_at: AwareDatetime


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
    # The customer asked not to be contacted (a CRM flag exports carry), for the rules
    # that write to customers.
    do_not_contact: bool = False
    segment: Segment | None = None
    managed: bool | None = None
    arr: float = Field(default=0, ge=0)
    developers: int = Field(default=0, ge=0)
    seats_licensed: int = Field(default=0, ge=0)
    seats_used: int = Field(default=0, ge=0)
    contract_start: BookDate | None = None
    contract_end: BookDate | None = None
    renewal_date: BookDate | None = None
    renewal_stage: str | None = None
    renewal_opportunity_id: str | None = None
    renewal_amount: float | None = Field(default=None, ge=0)
    expansion_opportunity: bool = False
    health_score: float | None = Field(default=None, ge=0, le=10)
    health_category: HealthCategory | None = None
    health_since: AwareDatetime | None = None  # when the current category began
    health_history: list[HealthObservation] = Field(default_factory=list)
    health_reacted: HealthReaction | None = None
    lighthouse_active: bool = False
    lighthouse_entered_at: AwareDatetime | None = None
    lighthouse_exited_at: AwareDatetime | None = None
    lighthouse_exited_by: Email | None = None
    save_plan: SavePlan | None = None
    renewal_process: RenewalProcess | None = None
    slack_channel: str | None = None
    slack_last_activity: AwareDatetime | None = None
    open_tickets: int = Field(default=0, ge=0)
    deployed_version: str | None = None
    versions_behind: int = Field(default=0, ge=0)
    last_contact: BookDate | None = None
    # Seats (Scaled Success, ``shared.rules.seats``): the recent counts, the thresholds told
    # this term, and when the seat-check job should next look at the account (its due index).
    seats_history: list[SeatObservation] = Field(default_factory=list)
    seat_alerts: SeatAlerts | None = None
    seat_check_at: AwareDatetime | None = None

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
        if self.seats_used and self.seats_licensed == 0:
            raise ValueError(f"seats_licensed: 0 while {self.seats_used} seats are used")
        return self


class Owner(StrEnum):
    """The system whose word counts for a field of the book."""

    BOOK = "book"  # the book file: the directory and each account's team
    SALESFORCE = "salesforce"  # renewal events: the renewal, the contract, ARR
    VITALLY = "vitally"  # health, seats, versions, activity
    TAOPS = "taops"  # taops' own state: the derived segment, Lighthouse


# Who owns each field of a person and of an account. ``taops import`` writes a field of an
# existing record only when the book owns it (``--force`` overrides); a sync from a source
# writes only the fields that source owns. A field a stored document has and the models do
# not (state a handler keeps) belongs to taops and no import touches it.
PERSON_OWNERS: Mapping[str, Owner] = MappingProxyType(
    {
        field: Owner.BOOK
        for field in ("email", "name", "role", "manager", "timezone", "slack_id", "coverage_peers")
    }
)
ACCOUNT_OWNERS: Mapping[str, Owner] = MappingProxyType(
    {
        **{
            field: Owner.BOOK
            for field in (
                "id",
                "salesforce_id",
                "vitally_id",
                "name",
                "ta",
                "ae",
                "ce",
                "ie",
                "champions",
                "domains",
                "do_not_contact",
                "developers",
                "slack_channel",
            )
        },
        **{
            field: Owner.SALESFORCE
            for field in (
                "arr",
                "contract_start",
                "contract_end",
                "renewal_date",
                "renewal_stage",
                "renewal_opportunity_id",
                "renewal_amount",
                "expansion_opportunity",
            )
        },
        **{
            field: Owner.VITALLY
            for field in (
                "health_score",
                "health_category",
                "seats_licensed",
                "seats_used",
                "slack_last_activity",
                "open_tickets",
                "deployed_version",
                "versions_behind",
                "last_contact",
            )
        },
        **{
            field: Owner.TAOPS
            for field in (
                "segment",
                "managed",
                "lighthouse_active",
                "save_plan",
                "health_since",
                "health_history",
                "health_reacted",
                "lighthouse_entered_at",
                "lighthouse_exited_at",
                "lighthouse_exited_by",
                "renewal_process",
                "seats_history",
                "seat_alerts",
                "seat_check_at",
            )
        },
    }
)


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
    """Which accounts need cover during an absence, and who covers each.

    ``covers`` repeats the covers of ``items`` (sorted, each once; none once the plan is
    withdrawn) so that "the plans this person covers" is one query; it is derived here and
    never set by hand. ``first_day`` and ``last_day`` are the absence's days as the TA
    counts them, so a later change of dates can say what they were.
    """

    absence_id: str
    ta: Email
    start: AwareDatetime
    end: AwareDatetime
    first_day: date | None = None
    last_day: date | None = None
    status: Literal["draft", "shared", "withdrawn"]
    items: list[CoverageItem] = Field(default_factory=list)
    covers: list[Email] = Field(default_factory=list)
    accounts_without_cover_needs: int = 0

    @model_validator(mode="after")
    def _covers_from_items(self) -> CoveragePlan:
        live = self.status != "withdrawn"
        self.covers = sorted({item.cover for item in self.items}) if live else []
        return self


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
