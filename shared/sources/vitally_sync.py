"""The book kept current from Vitally's accounts (the ``vitally-sync`` job, ``taops sync vitally``).

A run pages through ``GET /resources/accounts`` (``shared.sources.vitally.list_accounts``)
and, for each account the book knows (by ``vitally_id``, else Vitally's ``externalId`` =
the book's ``id``), compares what Vitally says with what the book holds
(``shared.rules.book_sync``). Only an account that differs becomes events, each processed
like a webhook's (``shared.dispatch``):

- a health score that differs: the ``health.changed`` event the webhook path produces
  (``shared.sources.vitally.normalize`` of the account object), versioned by its ``updatedAt``;
- the policy's ``vitally.traits`` fields that differ: one ``account.traits`` event carrying
  every mapped value Vitally holds, versioned by the same ``updatedAt``, so an older
  observation arriving after a newer one is stale and ignored.

An account Vitally knows and the book does not is reported, never added. A trait value
that cannot be read (``"lots"`` seats) is reported and that field left as it is.

Rate limits (429, honouring ``Retry-After``) and 5xx are waited out within
``vitally.backoff_budget_seconds``; then ``TransientError`` is raised. The cursor of the
next page is saved after each page (``sync_state/vitally``), so a retry or the next tick
resumes there, and a run that passes ``vitally.run_seconds`` stops after a page for the
next tick to go on. Replaying a page changes nothing: its accounts already match.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.book import ACCOUNTS
from shared.bootstrap import VitallyAccounts
from shared.events import EventEnvelope, stable_event_id
from shared.exceptions import ConfigurationError, PermanentError, TransientError
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import Outcome, ProcessResult
from shared.rules.book_sync import Change, describe, field_changes, score_change
from shared.sources import vitally
from shared.store import Document, Store

SYNC_STATE = "sync_state"
STATE_ID = "vitally"
TRAITS_EVENT_TYPE = "account.traits"
# How many unknown accounts and unreadable values a pass keeps in its state document.
KEEP = 100
# A "last" date or time this far past the run is a bad value, not news: kept, it would
# hold the field forever (the latest wins).
AHEAD = timedelta(days=1)
# Tries of one page within a run, however short Vitally's Retry-After (a 0 would spin).
TRIES = 8


class RestAccounts:
    """``GET /resources/accounts`` with the configured key (``TAOPS_VITALLY_API_KEY``)."""

    def __init__(self, client: Any, base_url: str, api_key: str) -> None:
        self._client = client
        self._base = base_url
        self._key = api_key

    @classmethod
    def configured(cls, client: Any) -> RestAccounts:
        """``ConfigurationError`` when no key is set: an operator must add it."""
        creds = vitally.rest_credentials()
        if creds is None:
            raise ConfigurationError(
                "vitally-credentials",
                "TAOPS_VITALLY_API_KEY is not set: set it (and TAOPS_VITALLY_BASE_URL) "
                "to keep the book current from Vitally",
            )
        return cls(client, *creds)

    def page(self, cursor: str | None, limit: int) -> dict[str, Any]:
        return vitally.list_accounts(self._client, self._base, self._key, cursor, limit)


# -- reading an account's values ---------------------------------------------------------------


def _count(value: Any, now: datetime) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a whole number")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise ValueError(f"{value[:40]!r} is not a whole number")
        value = int(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{str(value)[:40]!r} is not a whole number")
    if value < 0 or value > 1_000_000_000:
        raise ValueError(f"{value} is out of range (0 to 1,000,000,000)")
    return value


def _version(value: Any, now: datetime) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{str(value)[:40]!r} is not a version")
    text = str(value).strip()
    if not text or len(text) > 100:
        raise ValueError("a version is 1 to 100 characters")
    return text


def _moment(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{str(value)[:40]!r} is not an ISO-8601 date or time")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not an ISO-8601 date or time") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value[:40]!r} is out of range") from None
    if moment > now + AHEAD:
        raise ValueError(f"{value[:40]!r} is in the future")
    return moment


def _day(value: Any, now: datetime) -> str:
    # A timestamp counts by its date in UTC (exports give 2026-12-01T12:00:00Z).
    day: date = _moment(value, now).date()
    return day.isoformat()


def _time(value: Any, now: datetime) -> str:
    return utc_text(_moment(value, now))


READERS: dict[str, Callable[[Any, datetime], Any]] = {
    "seats_used": _count,
    "seats_licensed": _count,
    "deployed_version": _version,
    "versions_behind": _count,
    "last_contact": _day,
    "slack_last_activity": _time,
    "open_tickets": _count,
}


def observe(
    account: Mapping[str, Any], traits: Mapping[str, str], now: datetime
) -> tuple[dict[str, Any], list[str]]:
    """The book fields ``account`` (a Vitally account object) holds a value for, in the
    book's stored form, and one line per value that cannot be read. ``traits`` maps a
    book field to its trait name: looked up in ``traits``, then on the object itself; a
    missing or null trait is simply not there."""
    own = account.get("traits")
    own = own if isinstance(own, dict) else {}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for book_field, name in traits.items():
        if name in own:
            raw, where = own[name], f"traits.{name}"
        elif name != "traits" and name in account:
            raw, where = account[name], name
        else:
            continue
        if raw is None:
            continue
        try:
            values[book_field] = READERS[book_field](raw, now)
        except ValueError as exc:
            problems.append(f"{where} ({book_field}): {exc}")
    return values, problems


def traits_event(
    account_id: str,
    external_id: str | None,
    name: str | None,
    values: dict[str, Any],
    version: datetime | None,
    now: datetime,
) -> EventEnvelope:
    """One observation of the fields Vitally owns: its id is the account, the values and
    Vitally's ``updatedAt`` (the run's time when Vitally gives none), so the same values
    seen again later (seats 90 → 95 → 90) are a new event, not a duplicate."""
    return EventEnvelope(
        source="vitally",
        type=TRAITS_EVENT_TYPE,
        event_id=stable_event_id("vitally", "traits", account_id, values, version or now),
        entity_key=f"vitally-account:{account_id}",
        source_version=version,
        occurred_at=version or now,
        received_at=now,
        payload={"vitally_id": account_id, "external_id": external_id, "name": name, "fields": values},
    )


# -- one account -------------------------------------------------------------------------------


@dataclass
class AccountSync:
    """What Vitally would change on one book account, and the events that do it."""

    account_id: str
    name: str
    vitally_id: str
    changes: dict[str, Change] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    events: list[EventEnvelope] = field(default_factory=list)

    def line(self) -> str:
        said = describe(self.changes) if self.changes else "nothing to change"
        return f"{self.name} ({self.account_id}): {said}" + "".join(f"; {p}" for p in self.problems)

    def as_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "name": self.name,
            "vitally_id": self.vitally_id,
            "changes": {f: {"old": old, "new": new} for f, (old, new) in self.changes.items()},
            "problems": self.problems,
        }


@dataclass(frozen=True)
class Unknown:
    """An account Vitally knows and the book does not."""

    vitally_id: str
    external_id: str | None
    name: str | None

    def line(self) -> str:
        ext = f", externalId {self.external_id}" if self.external_id else ""
        return f"Vitally account {self.vitally_id} ({self.name or 'no name'}{ext}) is not in the book"

    def as_json(self) -> dict[str, Any]:
        return {"vitally_id": self.vitally_id, "external_id": self.external_id, "name": self.name}


class BookIndex:
    """The book's accounts by ``vitally_id`` and by ``id``, read once per run (each handler
    compares again inside its own transaction)."""

    def __init__(self, store: Store) -> None:
        self.by_vitally: dict[str, Document] = {}
        self.by_id: dict[str, Document] = {}
        for account_id, doc in store.query(ACCOUNTS):
            self.by_id[account_id] = doc
            if doc.get("vitally_id"):
                self.by_vitally[str(doc["vitally_id"])] = doc

    def find(self, vitally_id: str, external_id: str | None) -> Document | None:
        found = self.by_vitally.get(vitally_id)
        if found is None and external_id:
            found = self.by_id.get(external_id)
        return found


def plan_account(raw: Any, book: BookIndex, policy: Policy, now: datetime) -> AccountSync | Unknown:
    """Compare one Vitally account object with the book. ``PermanentError`` naming the
    account when the object itself cannot be read (no id, a score out of 0-10...)."""
    if not isinstance(raw, dict):
        raise PermanentError("an account in the page is not a JSON object")
    [health] = vitally.normalize(raw, now)  # validates the id, externalId, score and updatedAt
    seen = health.payload
    vitally_id, external_id = str(seen["vitally_id"]), seen.get("external_id")
    account = book.find(vitally_id, external_id)
    if account is None:
        return Unknown(vitally_id, external_id, seen.get("name"))
    values, problems = observe(raw, policy.vitally.traits.mapped(), now)
    plan = AccountSync(str(account["id"]), str(account.get("name") or account["id"]), vitally_id)
    plan.problems = problems
    score = score_change(account, seen.get("health_score"))
    if score is not None:
        plan.changes["health_score"] = score
        plan.events.append(health.model_copy(update={"payload": {**seen, "score_source": "vitally-sync"}}))
    changed = field_changes(account, values)
    if changed:
        plan.changes.update(changed)
        plan.events.append(
            traits_event(vitally_id, external_id, seen.get("name"), values, health.source_version, now)
        )
    return plan


# -- a run -------------------------------------------------------------------------------------


@dataclass
class SyncReport:
    """What a run saw and did; ``accounts`` holds only those with a change or a problem."""

    pages: int = 0
    seen: int = 0
    accounts: list[AccountSync] = field(default_factory=list)
    unknown: list[Unknown] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    results: list[ProcessResult] = field(default_factory=list)
    complete: bool = False
    resumed: bool = False
    waited: float = 0.0
    recorded: bool = False  # replay: Vitally was not called

    @property
    def changed(self) -> int:
        return sum(bool(a.changes) for a in self.accounts)

    def summary(self) -> dict[str, Any]:
        if self.recorded:
            return {"skipped": "replay does not call Vitally"}
        out: dict[str, Any] = {
            "pages": self.pages,
            "accounts": self.seen,
            "changed": self.changed,
            "events": sum(r.outcome is Outcome.APPLIED for r in self.results),
            "unknown": len(self.unknown),
        }
        for outcome in (Outcome.STALE, Outcome.REJECTED):
            count = sum(r.outcome is outcome for r in self.results)
            if count:
                out[f"events_{outcome.value}"] = count
        problems = len(self.problem_lines())
        if problems:
            out["problems"] = problems
        if self.resumed:
            out["resumed"] = True
        if not self.complete:
            out["paused"] = "resumes from the saved cursor on the next tick"
        if self.waited:
            out["waited_seconds"] = round(self.waited, 1)
        return out

    def problem_lines(self) -> list[str]:
        """The run's problems and each account's unreadable values, one line each."""
        return self.problems + [f"{a.name} ({a.account_id}): {p}" for a in self.accounts for p in a.problems]

    def notes(self) -> list[str]:
        if self.recorded:
            return ["vitally-sync: replay does not call Vitally; the book stays as the events left it"]
        return [u.line() for u in self.unknown] + self.problem_lines()

    def as_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "complete": self.complete,
            "changes": [a.as_json() for a in self.accounts if a.changes],
            "unknown_accounts": [u.as_json() for u in self.unknown],
            "problems": self.problem_lines(),
        }


Apply = Callable[[EventEnvelope], ProcessResult]


def _page(
    source: VitallyAccounts,
    cursor: str | None,
    policy: Policy,
    report: SyncReport,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    """One page, waiting out rate limits and outages within the run's budget."""
    settings = policy.vitally
    attempt = 0
    while True:
        try:
            return source.page(cursor, settings.page_size)
        except vitally.VitallyBusyError as exc:
            attempt += 1
            hint = exc.retry_after
            wait = hint if hint is not None else min(8.0, 2.0 ** (attempt - 1))
            if attempt >= TRIES or report.waited + wait > settings.backoff_budget_seconds:
                raise TransientError(
                    f"{exc} ({attempt} tries, {report.waited:g}s waited of "
                    f"{settings.backoff_budget_seconds:g}s): the next try resumes from the saved cursor"
                ) from exc
            sleep(wait)
            report.waited += wait


def _kept(items: list[Any], more: list[Any]) -> list[Any]:
    return (items + more)[:KEEP]


def run(
    store: Store,
    policy: Policy,
    source: VitallyAccounts,
    now: datetime,
    *,
    apply: Apply | None = None,
    resume: bool = True,
    run_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> SyncReport:
    """Page through Vitally's accounts and hand each change to ``apply`` (the dispatcher).

    Without ``apply`` (a dry run) nothing is written, the saved cursor included, and the
    report says what would change. With ``resume`` the run starts from the saved cursor
    and saves the next one after every page. ``run_seconds`` stops it after the page
    that passes it. Raises ``TransientError`` when Vitally stays busy past the budget,
    ``ConfigurationError`` when it refuses the key.
    """
    report = SyncReport()
    persist = apply is not None and resume
    state = (store.get(SYNC_STATE, STATE_ID) or {}) if persist else {}
    cursor: str | None = state.get("cursor")
    progress: dict[str, Any] = dict(state.get("pass") or {}) if cursor else {}
    progress.setdefault("started_at", utc_text(now))
    report.resumed = cursor is not None
    book = BookIndex(store)
    started = clock()
    while True:
        try:
            body = _page(source, cursor, policy, report, sleep)
        except PermanentError as exc:
            if not (report.resumed and report.pages == 0 and cursor):
                raise
            report.problems.append(f"Vitally refused the saved cursor ({exc.reason}): the pass starts again")
            cursor, progress, report.resumed = None, {"started_at": utc_text(now)}, False
            continue
        if body.get("dry_run"):
            report.recorded = True
            return report
        report.pages += 1
        unknown_here: list[Unknown] = []
        changed_before = report.changed
        for raw in body["results"]:
            report.seen += 1
            try:
                plan = plan_account(raw, book, policy, now)
            except PermanentError as exc:
                ident = raw.get("id") if isinstance(raw, dict) else None
                report.problems.append(
                    f"Vitally account {str(ident)[:80] if ident else '(no id)'}: {exc.reason}"
                )
                continue
            if isinstance(plan, Unknown):
                unknown_here.append(plan)
                continue
            if plan.changes or plan.problems:
                report.accounts.append(plan)
            if apply is not None:
                report.results += [apply(event) for event in plan.events]
        report.unknown += unknown_here
        following = body.get("next")
        if following is not None and following == cursor:
            report.problems.append("Vitally gave the same cursor twice: the pass ends here")
            following = None
        cursor = following
        if persist:
            progress = {
                **progress,
                "pages": int(progress.get("pages", 0)) + 1,
                "accounts": int(progress.get("accounts", 0)) + len(body["results"]),
                "changed": int(progress.get("changed", 0)) + report.changed - changed_before,
                "unknown": _kept(list(progress.get("unknown") or []), [u.as_json() for u in unknown_here]),
            }
            _save(store, state, cursor, progress, now)
        if cursor is None:
            report.complete = True
            return report
        if run_seconds is not None and clock() - started >= run_seconds:
            return report


def _save(store: Store, state: Document, cursor: str | None, progress: dict[str, Any], now: datetime) -> None:
    """The cursor to resume from (None once the pass is done) and what the pass has seen;
    a finished pass is kept as ``last_pass`` for people to read."""
    doc: Document = {"cursor": cursor, "updated_at": utc_text(now)}
    if cursor is None:
        doc.update(last_completed_at=utc_text(now), last_pass=progress)
    else:
        doc["pass"] = progress
        doc.update({k: state[k] for k in ("last_completed_at", "last_pass") if k in state})
    store.put(SYNC_STATE, STATE_ID, doc)
