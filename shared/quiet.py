"""Sources that go quiet: when each source was last heard, and whether it is quiet now.

*Heard*: an event of a watched source reaching the dispatcher (a Deel time-off webhook, a
Salesforce renewal, a Vitally health webhook, a Gmail push; Vitally's pull sync does not
count, it says nothing about the webhook). ``heard`` records it in ``source_heard/{source}``
at most once per ``HEARD_EVERY`` per instance and source: Firestore takes about one write a
second on one document, and a burst of 2,000 webhooks must not queue on it. The record is
``HEARD_EVERY`` coarse at worst, which is nothing against limits counted in hours. (Deriving
it from ``processed_events`` instead would need an ordered query and an index on a
collection another part owns, and a read on every status look; this costs one small
transaction per source per instance every few minutes.)

The Gmail watch's renewals (the ``gmail-watch`` job) are recorded in
``source_heard/gmail-watch``: a failed renewal, or an ``expiration`` that passed, makes the
watch broken until a renewal succeeds.

``source_status`` is the read side (``taops sources``, the dashboard, the ``source-watch``
cadence); ``source_alerts/{source}`` holds what the operators were last told.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import EventEnvelope
from shared.models import utc_text
from shared.policy import Policy
from shared.store import Store, Transaction

SOURCE_HEARD = "source_heard"
SOURCE_ALERTS = "source_alerts"
GMAIL_WATCH = "gmail-watch"
HEARD_EVERY = timedelta(minutes=5)

# The event types each watched source's webhook (or push) produces.
_HEARD_TYPES = {
    "pto.logged": "deel",
    "renewal.changed": "salesforce",
    "health.changed": "vitally",
    "mail.group_message": "gmail",
}

# Per store (one per instance in production), source -> the time last written.
_written: weakref.WeakKeyDictionary[Any, dict[str, datetime]] = weakref.WeakKeyDictionary()


def watched_source(event: EventEnvelope) -> str | None:
    source = _HEARD_TYPES.get(event.type)
    return source if source == event.source else None


def heard(store: Store, event: EventEnvelope, now: datetime) -> bool:
    """Record that ``event``'s source was heard at ``now`` (see the module docstring);
    True when it wrote. Best effort for the caller: the event is applied either way."""
    source = watched_source(event)
    if source is None:
        return False
    try:
        written = _written.setdefault(store, {})
    except TypeError:  # a store that cannot be weakly referenced: write every time
        written = {}
    last = written.get(source)
    if last is not None and abs(now - last) < HEARD_EVERY:
        return False
    # A blind write, no read: two instances writing a moment apart may leave the earlier
    # time, seconds off, which limits counted in hours cannot tell.
    store.put(SOURCE_HEARD, source, {"source": source, "heard_at": utc_text(now), "event_id": event.event_id})
    written[source] = now
    return True


def record_gmail_watch(
    store: Store, now: datetime, *, expiration: datetime | None = None, failure: str | None = None
) -> None:
    """A renewal of the Gmail watch: its new ``expiration``, or the ``failure`` that stopped
    it (the first failure of a run of them is kept as when the watch broke)."""

    def body(tx: Transaction) -> None:
        current = tx.get(SOURCE_HEARD, GMAIL_WATCH) or {}
        if failure is None:
            doc = {
                "source": GMAIL_WATCH,
                "renewed_at": utc_text(now),
                "expiration": utc_text(expiration) if expiration else None,
                "failed_at": None,
                "failure": None,
            }
        else:
            doc = {
                **current,
                "source": GMAIL_WATCH,
                "failed_at": current.get("failed_at") or utc_text(now),
                "failure": failure[:300],
            }
        tx.set(SOURCE_HEARD, GMAIL_WATCH, doc)

    store.run_transaction(body)


def parse_utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# The Gmail watch is renewed daily: never renewed this long after watching began is broken.
WATCH_NEVER_RENEWED = timedelta(hours=26)


@dataclass(frozen=True)
class SourceStatus:
    source: str
    last_heard: str | None  # UTC text; for the Gmail watch, its last renewal
    limit_hours: float | None
    quiet: bool
    since: str | None  # when the current silence (or breakage) began
    reason: str
    alerted: str | None  # the silence the operators were told about and not yet told is over
    watching_since: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 10 else f"{hours:.1f} hours"


def _watch_status(doc: dict[str, Any], alert: dict[str, Any], now: datetime) -> SourceStatus:
    renewed, expiration = doc.get("renewed_at"), doc.get("expiration")
    start = alert.get("watching_since")
    quiet, since = True, None
    if doc.get("failed_at"):
        since, reason = doc["failed_at"], f"renewal failed: {doc.get('failure')}"
    elif expiration and parse_utc(expiration) <= now:
        since, reason = expiration, f"the watch expired at {expiration}, not renewed"
    elif renewed:
        quiet, reason = False, f"renewed, expires {expiration or '?'}"
    elif start and now - parse_utc(start) > WATCH_NEVER_RENEWED:
        since, reason = start, f"never renewed since watching began {start}"
    else:
        quiet, reason = False, "not renewed yet"
    return SourceStatus(
        source=GMAIL_WATCH,
        last_heard=renewed,
        limit_hours=None,
        quiet=quiet,
        since=since,
        reason=reason,
        alerted=alert.get("quiet_since"),
        watching_since=start,
    )


def source_status(store: Store, policy: Policy, now: datetime) -> list[SourceStatus]:
    """Each watched source: last heard, its limit, and whether it is quiet now (with since
    when and why). The Gmail watch is its own row while the gmail-watch job is scheduled."""
    limits = policy.operations.quiet_after_hours
    names = list(limits)
    watch = policy.cadence(GMAIL_WATCH)
    if "gmail" in limits and watch is not None and watch.enabled:
        names.append(GMAIL_WATCH)
    out = []
    for name in names:
        doc = store.get(SOURCE_HEARD, name) or {}
        alert = store.get(SOURCE_ALERTS, name) or {}
        if name == GMAIL_WATCH:
            out.append(_watch_status(doc, alert, now))
            continue
        limit = limits[name]
        last = doc.get("heard_at")
        start = last or alert.get("watching_since")
        quiet = start is not None and now - parse_utc(start) > timedelta(hours=limit)
        if last is None:
            reason = "never heard" + (f" since watching began {start}" if start else "")
        else:
            reason = f"last heard {_hours(now - parse_utc(last))} ago"
        if quiet:
            reason += f", past its {limit:g}-hour limit"
        out.append(
            SourceStatus(
                source=name,
                last_heard=last,
                limit_hours=limit,
                quiet=quiet,
                since=start if quiet else None,
                reason=reason,
                alerted=alert.get("quiet_since"),
                watching_since=alert.get("watching_since"),
            )
        )
    return out
