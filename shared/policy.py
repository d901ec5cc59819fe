"""The policy file: every threshold, window, ladder step and calendar rule.

``load_policy()`` reads the file named by ``--policy`` / ``TAOPS_POLICY`` or the bundled
default, validates it completely and raises ``PolicyError`` listing every bad field by its
dotted path (``health.red_below: ...``). The result is cached per path: a policy is loaded
once per process.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime, time, timedelta
from datetime import date as date_type
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.exceptions import PolicyError
from shared.models import HealthCategory, Segment, TimeZoneName

# The handbook's MBR length; the agenda (shared.rules.agenda) fills it 5/15/5.
MBR_MINUTES = 30
DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.yaml")
_CRON_FIELD = re.compile(r"^[\d*/,\-]+$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Tier(_Section):
    name: Segment
    min_developers: int = Field(ge=0)
    unmanaged_from_arr: float | None = Field(default=None, gt=0)


class Segmentation(_Section):
    tiers: list[Tier] = Field(min_length=1)

    @model_validator(mode="after")
    def _tiers_cover_from_zero(self) -> Segmentation:
        mins = [t.min_developers for t in self.tiers]
        if len(set(mins)) != len(mins):
            raise ValueError("two tiers start at the same developer count")
        if 0 not in mins:
            raise ValueError("one tier must start at 0 developers")
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        return self


class LadderStep(_Section):
    level: int = Field(ge=1)
    after_hours: float = Field(gt=0)
    to: Literal["team", "ta", "ta_manager", "ta_director", "ts_vp"]


SlaClock = Literal["working_days", "calendar", "business_hours"]


class GroupMail(_Section):
    address: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    company_domains: list[str] = Field(min_length=1)
    sla_hours: float = Field(gt=0)
    # How the SLA's hours are counted: working_days (every hour of a working day, none of
    # a weekend or holiday), calendar (elapsed time) or business_hours (opening hours only).
    sla_clock: SlaClock = "working_days"
    # The clock's time zone when the thread's account has no TA (whose own zone is used).
    time_zone: TimeZoneName = "UTC"
    remind_before_breach_hours: float = Field(ge=0)
    escalation_ladder: list[LadderStep] = Field(min_length=1)
    resync_days: int = Field(ge=1, le=30)
    # Who owns the mailbox: hears the TA-manager step when no TA manager is known.
    owner: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    # The pooled team's Slack channel: where a step addressed to several people is posted.
    slack_channel: str | None = None

    @model_validator(mode="after")
    def _ladder_climbs(self) -> GroupMail:
        hours = [s.after_hours for s in self.escalation_ladder]
        levels = [s.level for s in self.escalation_ladder]
        if hours != sorted(hours) or len(set(hours)) != len(hours):
            raise ValueError("escalation_ladder: after_hours must strictly increase")
        if levels != list(range(1, len(levels) + 1)):
            raise ValueError("escalation_ladder: levels must be 1, 2, 3, ... in order")
        if self.remind_before_breach_hours >= self.sla_hours:
            raise ValueError("remind_before_breach_hours: must be shorter than sla_hours")
        if self.remind_before_breach_hours and (
            self.sla_hours - self.remind_before_breach_hours >= self.escalation_ladder[0].after_hours
        ):
            raise ValueError(
                "remind_before_breach_hours: the reminder must come before the first ladder step"
            )
        return self


class Renewal(_Section):
    process_starts_days_before: int = Field(ge=1, le=730)
    opportunity_types: list[str] = Field(min_length=1)
    expansion_types: list[str] = Field(default_factory=list)
    # The TA's health assessment (green / yellow / red) is due this many days after the
    # renewal process starts.
    assessment_due_days: int = Field(default=14, ge=1, le=120)
    # The most renewal records one Salesforce message (an Outbound Message's notifications,
    # a CDC event's record ids) may carry; a message with more is refused with 400 and kept.
    # Salesforce sends at most 100 notifications a message; the headroom is for relays.
    max_records_per_message: int = Field(default=5000, ge=1, le=100_000)


class Health(_Section):
    red_below: float = Field(ge=0, le=10)
    yellow_below: float = Field(ge=0, le=10)
    debounce_hours: float = Field(ge=0)
    lighthouse_categories: list[HealthCategory]
    save_plan_categories: list[HealthCategory]
    # The save plan a Lighthouse entry (or a yellow that holds) asks the TA for is due this
    # many working days later.
    save_plan_due_working_days: int = Field(default=5, ge=1, le=60)
    # How many score observations an account keeps, for the messages that say how it got here.
    history_kept: int = Field(default=12, ge=1, le=100)
    last_activity_healthy_days: int = Field(ge=0)
    last_activity_poor_days: int = Field(ge=0)

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Health:
        if self.red_below > self.yellow_below:
            raise ValueError("red_below: must not exceed yellow_below")
        if self.last_activity_healthy_days >= self.last_activity_poor_days:
            raise ValueError("last_activity_healthy_days: must be below last_activity_poor_days")
        return self


_ADDRESS = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_HTTPS = r"^https://[^\s]+$"


class Unsubscribe(_Section):
    """Where a customer asks to hear no more: a mailbox (always), and a web page that
    accepts RFC 8058 one-click unsubscribes (optional)."""

    mailto: str = Field(default="unsubscribe@example.com", pattern=_ADDRESS)
    url: str | None = Field(default=None, pattern=_HTTPS)
    # Whether ``url`` honours RFC 8058's one-click POST (``List-Unsubscribe-Post``).
    one_click: bool = False

    @model_validator(mode="after")
    def _one_click_needs_url(self) -> Unsubscribe:
        if self.one_click and not self.url:
            raise ValueError("one_click: needs a url that accepts the one-click POST")
        return self


class Release(_Section):
    """A product release the usage recap tells customers who are behind about."""

    version: str = Field(min_length=1, max_length=40)
    date: date_type
    highlights: list[str] = Field(default_factory=list)


class ContentItem(_Section):
    """A piece of enablement content (a blog post, a video...) a recap can share; each
    goes to an account once. ``version`` ties it to a release (sent to accounts missing
    that release); without one it is general enablement, sent to any account behind.
    Nothing is shared before its ``date``."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    title: str = Field(min_length=1)
    url: str = Field(pattern=_HTTPS)
    kind: Literal["blog", "video", "docs", "webinar"]
    date: date_type
    version: str | None = None


class ScaledSuccess(_Section):
    seat_alert_percents: list[int] = Field(min_length=1)
    # Whose AE hears of seats at those percents: ``unmanaged`` (the Scaled Success program,
    # where no dedicated TA watches the account) or ``all`` accounts.
    seat_alerts_for: Literal["unmanaged", "all"] = "unmanaged"
    # Seat counts an account keeps (each change Vitally reports), for the alert's trend.
    seat_history_kept: int = Field(default=12, ge=2, le=100)
    upgrade_lag_versions: int = Field(ge=1)
    call_offer_minutes: int = Field(ge=5)
    # Customer email (every email taops writes to a customer: the call offer, the usage
    # recap, the OOO notice). Sent through Gmail as ``sender`` (a user mailbox the
    # service account may send as); replies go to ``reply_to`` (default: the pooled
    # mailbox, so its SLA watches them).
    sender: str = Field(default="scaled-success@example.com", pattern=_ADDRESS)
    sender_name: str = Field(default="The Technical Advisor team", min_length=1)
    reply_to: str | None = Field(default=None, pattern=_ADDRESS)
    booking_link: str = Field(default="https://example.com/book/scaled-success", pattern=_HTTPS)
    # How long a customer email waits in the outbox, where `taops outbox cancel` stops it.
    review_hours: float = Field(default=24, ge=0, le=24 * 14)
    # No two customer emails to one account closer than this: the later one waits.
    min_gap_days: float = Field(default=3, ge=0, le=60)
    unsubscribe: Unsubscribe = Unsubscribe()
    # At most this many content items in one recap (the rest wait for the next month).
    recap_max_items: int = Field(default=4, ge=0, le=20)
    releases: list[Release] = Field(default_factory=list)
    content: list[ContentItem] = Field(default_factory=list)

    @field_validator("seat_alert_percents")
    @classmethod
    def _percents(cls, value: list[int]) -> list[int]:
        if any(p <= 0 or p > 200 for p in value) or value != sorted(set(value)):
            raise ValueError("must be increasing percentages between 1 and 200")
        return value

    @model_validator(mode="after")
    def _unique(self) -> ScaledSuccess:
        versions = [r.version for r in self.releases]
        if len(set(versions)) != len(versions):
            raise ValueError("releases: each version once")
        ids = [c.id for c in self.content]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"content: ids must be unique: {', '.join(dupes)}")
        unknown = sorted({c.version for c in self.content if c.version and c.version not in versions})
        if unknown:
            raise ValueError(f"content: no release {', '.join(unknown)} in releases")
        return self


class Contact(_Section):
    # "Every customer should be contacted in some form at least once a month": an account
    # whose last contact is older than this many days gets a reminder to its TA.
    staleness_days: int = Field(ge=1)


class Digest(_Section):
    """The Monday team meeting's digest (the ``weekly-digest`` job)."""

    # each_ta: one message per TA (their accounts, the team's absences and review weeks);
    # team_channel: one post to ``group_mail.slack_channel``.
    to: Literal["each_ta", "team_channel"] = "each_ta"
    # MBR and QBR weeks that begin within this many days of the digest's Monday are "coming".
    lookahead_days: int = Field(default=14, ge=1, le=62)


class BusinessHours(_Section):
    start: time
    end: time

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("start: must be before end")
        return self


class CalendarPolicy(_Section):
    fiscal_year_start_month: int = Field(ge=1, le=12)
    fiscal_year_named_by: Literal["start", "end"]
    week_rule: Literal["nth_monday", "calendar"]
    business_hours: BusinessHours
    working_days: list[int] = Field(min_length=1)
    holiday_country: str | None = Field(default=None, min_length=2, max_length=3)
    holiday_subdivision: str | None = None
    skip_holidays: bool

    @field_validator("working_days")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in value) or len(set(value)) != len(value):
            raise ValueError("must be distinct weekdays 0 (Monday) to 6 (Sunday)")
        return sorted(value)

    @model_validator(mode="after")
    def _holiday_country_known(self) -> CalendarPolicy:
        if self.skip_holidays and self.holiday_country:
            import holidays

            if self.holiday_country not in holidays.list_supported_countries():
                raise ValueError(f"holiday_country: {self.holiday_country!r} is not a supported country")
        return self


class AbsencePolicy(_Section):
    half_day_split: time


class Coverage(_Section):
    renewal_margin_days: int = Field(ge=0)
    slack_activity_window_days: int = Field(ge=1)
    min_open_tickets: int = Field(ge=1)
    unhealthy_categories: list[HealthCategory] = Field(min_length=1)
    share_at: Literal["requested", "approved"]
    customer_notice_days_before: int = Field(ge=0)
    autoresponder_restrict_to_domain: bool
    autoresponder_restrict_to_contacts: bool


class Cadence(_Section):
    job: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    schedule: str
    time_zone: TimeZoneName
    description: str
    # Scheduled (terraform makes a Cloud Scheduler job) only when enabled; a cadence whose
    # reaction is not built yet stays in the file, documented, and off.
    enabled: bool = True

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        parts = value.split()
        if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
            raise ValueError("must be a five-field cron expression")
        return value


class Mbr(_Section):
    """The monthly business reviews (second week of every month; the ``mbr-reminder`` job)."""

    # Each TA's reminder is owed from this many working days before the MBR week (0: its
    # Monday) until the week is over.
    remind_working_days_before: int = Field(default=3, ge=0, le=20)
    # Also put the MBR on the TA's Google Calendar (events.insert, the attendees invited,
    # the agenda in the description); delivery then needs the calendar.events scope.
    calendar_event: bool = False
    # When in the MBR week the event is proposed: this weekday (0 = Monday; the next
    # working day of the week when it is not one), at this time in the TA's time zone.
    event_weekday: int = Field(default=1, ge=0, le=6)
    event_time: time = time(10, 0)
    # Calendar's sendUpdates: who is emailed the invitation.
    send_updates: Literal["all", "externalOnly", "none"] = "all"


class Qbr(_Section):
    """The internal QBRs (first week of every fiscal quarter; the ``qbr-reminder`` job)."""

    # Each AE's reminder is owed from this many working days before the QBR week (0: its
    # Monday) until the week is over.
    remind_working_days_before: int = Field(default=5, ge=0, le=20)


class Delivery(_Section):
    """How one delivery run sends an action and how long it may take.

    A run claims the action for ``lease_seconds``; past the lease another instance may
    take it over and send again, so a run ends well inside it: it starts an attempt (or a
    wait before one) only while the attempt can end within ``run_seconds`` of the run's
    start, and leaves the action to the next delivery otherwise. ``RECORD_SECONDS`` are
    kept after the run to record what happened before the lease runs out."""

    # An HTTP attempt: the connection within CONNECT_SECONDS, the answer within
    # timeout_seconds (httpx's read timeout).
    CONNECT_SECONDS: ClassVar[float] = 5.0
    RECORD_SECONDS: ClassVar[float] = 10.0

    max_attempts: int = Field(ge=1, le=20)
    backoff_base_seconds: float = Field(gt=0)
    backoff_cap_seconds: float = Field(gt=0)
    max_retry_after_seconds: float = Field(ge=0)
    lease_seconds: int = Field(ge=10)
    timeout_seconds: float = Field(gt=0, le=120)
    run_seconds: float = Field(default=90, gt=0)

    @property
    def connect_seconds(self) -> float:
        return min(self.CONNECT_SECONDS, self.timeout_seconds)

    @property
    def attempt_seconds(self) -> float:
        """The longest one HTTP attempt is allowed to take (connect, then wait for the answer)."""
        return self.connect_seconds + self.timeout_seconds

    @model_validator(mode="after")
    def _run_fits_the_lease(self) -> Delivery:
        if self.run_seconds + self.RECORD_SECONDS > self.lease_seconds:
            raise ValueError(
                f"run_seconds ({self.run_seconds:g}) and {self.RECORD_SECONDS:g}s to record the outcome"
                f" exceed lease_seconds ({self.lease_seconds}): another instance could take the"
                " action over and send it again"
            )
        if self.attempt_seconds > self.run_seconds:
            raise ValueError(
                f"one attempt may take {self.attempt_seconds:g}s (timeout_seconds plus"
                f" {self.connect_seconds:g}s to connect), more than run_seconds ({self.run_seconds:g})"
            )
        return self


class Events(_Section):
    marker_retention_days: int = Field(ge=1)


# The sources whose silence the source-watch job notices (``operations.quiet_after_hours``).
WATCHED_SOURCES = ("deel", "salesforce", "vitally", "gmail")


class Operations(_Section):
    """Who hears about faults only an operator can fix (a missing or refused credential)."""

    slack_channel: str | None = None
    emails: list[str] = Field(default_factory=list)
    # One alert per fault per this many minutes, however often the fault recurs.
    alert_every_minutes: int = Field(default=60, ge=1, le=1440)
    # A source silent for longer than its hours here is "quiet": the source-watch job raises
    # one ops.alert per silence, and one more when it is heard again. A source left out is
    # not watched. gmail counts pushes from the pooled mailbox; its watch renewal (the
    # gmail-watch job) failing or expiring counts as broken whatever these hours say.
    quiet_after_hours: dict[str, float] = Field(
        default_factory=lambda: {"deel": 72.0, "salesforce": 24.0, "vitally": 6.0, "gmail": 24.0}
    )

    @field_validator("quiet_after_hours")
    @classmethod
    def _quiet(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(WATCHED_SOURCES))
        if unknown:
            raise ValueError(f"unknown sources {', '.join(unknown)} (known: {', '.join(WATCHED_SOURCES)})")
        bad = sorted(k for k, v in value.items() if not 0 < v <= 24 * 90)
        if bad:
            raise ValueError(f"hours must be above 0 and at most 2160 (90 days): {', '.join(bad)}")
        return value

    @field_validator("emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [e for e in value if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", e)]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return [e.lower() for e in value]


# The book's fields Vitally keeps current (the vitally-sync job), besides the health score.
VITALLY_FIELDS = (
    "seats_used",
    "seats_licensed",
    "deployed_version",
    "versions_behind",
    "last_contact",
    "slack_last_activity",
    "open_tickets",
)


def _trait(default: str) -> Any:
    return Field(default=default, min_length=1, max_length=200)


class VitallyTraits(_Section):
    """Which Vitally trait holds each book field: a name is looked up in the account's
    ``traits``, then among the account object's own fields (``lastOutboundMessageTimestamp``,
    ``usersCount``...); ``null`` leaves the field to the book. Every one is optional: one
    left out takes the default below (``default_policy.yaml`` documents them)."""

    seats_used: str | None = _trait("seats_used")
    seats_licensed: str | None = _trait("seats_licensed")
    deployed_version: str | None = _trait("deployed_version")
    versions_behind: str | None = _trait("versions_behind")
    last_contact: str | None = _trait("lastOutboundMessageTimestamp")
    slack_last_activity: str | None = _trait("slack_last_activity")
    open_tickets: str | None = _trait("open_tickets")

    def mapped(self) -> dict[str, str]:
        """Book field -> trait name, for the fields that are read from Vitally."""
        return {f: name for f in VITALLY_FIELDS if (name := getattr(self, f)) is not None}


class Vitally(_Section):
    traits: VitallyTraits = VitallyTraits()
    # Accounts per page of GET /resources/accounts (Vitally's maximum is 100).
    page_size: int = Field(default=100, ge=1, le=100)
    # How long one run may wait on 429s (Retry-After) and 5xx before it gives up and lets
    # Pub/Sub retry, resuming from the cursor.
    backoff_budget_seconds: float = Field(default=60, ge=0, le=600)
    # A run stops after the page that passes this, leaving the cursor to the next tick
    # (on_cadence_tick has 300 seconds).
    run_seconds: float = Field(default=180, gt=0, le=3600)


class Policy(_Section):
    segmentation: Segmentation
    group_mail: GroupMail
    renewal: Renewal
    health: Health
    scaled_success: ScaledSuccess
    contact: Contact
    calendar: CalendarPolicy
    absence: AbsencePolicy
    coverage: Coverage
    cadences: list[Cadence]
    delivery: Delivery
    events: Events
    operations: Operations = Operations()
    vitally: Vitally = Vitally()
    mbr: Mbr = Mbr()
    qbr: Qbr = Qbr()
    digest: Digest = Digest()

    @field_validator("cadences")
    @classmethod
    def _unique_jobs(cls, value: list[Cadence]) -> list[Cadence]:
        jobs = [c.job for c in value]
        dupes = sorted({j for j in jobs if jobs.count(j) > 1})
        if dupes:
            raise ValueError(f"job names must be unique: {', '.join(dupes)}")
        return value

    @model_validator(mode="after")
    def _mbr_event_in_working_hours(self) -> Policy:
        if self.mbr.calendar_event:
            start = self.mbr.event_time
            end = (datetime.combine(date(2000, 1, 1), start) + timedelta(minutes=MBR_MINUTES)).time()
            hours = self.calendar.business_hours
            if start < hours.start or end > hours.end or end <= start:
                raise ValueError(
                    f"mbr.event_time: the {MBR_MINUTES}-minute MBR at {start:%H:%M} must fit in "
                    f"calendar.business_hours ({hours.start:%H:%M}-{hours.end:%H:%M})"
                )
        return self

    @field_validator("digest")
    @classmethod
    def _digest_has_a_channel(cls, value: Digest, info: ValidationInfo) -> Digest:
        group = info.data.get("group_mail")
        if value.to == "team_channel" and group is not None and not group.slack_channel:
            raise ValueError("to: team_channel needs group_mail.slack_channel")
        return value

    def cadence(self, job: str) -> Cadence | None:
        return next((c for c in self.cadences if c.job == job), None)


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def validation_problems(error: ValidationError) -> list[str]:
    """One line per bad field, each starting with its dotted path."""
    return [f"{_dotted(e['loc'])}: {e['msg']}" for e in error.errors()]


def parse_policy(data: Any, source: str = "<policy>") -> Policy:
    """Validate already-parsed policy data; raise ``PolicyError`` naming every bad field."""
    if not isinstance(data, dict):
        raise PolicyError(source, ["(top level): must be a mapping of sections"])
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, validation_problems(exc)) from None


@lru_cache(maxsize=8)
def _load(path: str) -> Policy:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(path, [f"(file): cannot read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(path, [f"(file): not valid YAML: {exc}"]) from None
    return parse_policy(data, path)


def policy_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    chosen = explicit or os.environ.get("TAOPS_POLICY") or DEFAULT_POLICY_PATH
    return Path(chosen).resolve()


def load_policy(path: str | os.PathLike[str] | None = None) -> Policy:
    """The policy at ``path``, else ``$TAOPS_POLICY``, else the bundled default; cached.

    Raises ``PolicyError`` when the file is missing, not YAML, or invalid.
    """
    return _load(str(policy_path(path)))
