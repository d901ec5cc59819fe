"""Carrying out one action: claim it, send it once, record what happened.

The claim is a small state machine on the outbox document (after Powertools'
idempotency): ``pending``/``published`` → ``sending`` (with a lease that expires, so a
crashed attempt is taken over) → ``delivered`` or ``failed``; a retryable failure puts it
back to ``published`` with the attempt recorded. A redelivered action message finds it
``delivered`` and sends nothing. Cancelled actions are never sent, nor is a customer
email to an account marked ``do_not_contact`` since it was decided (it is ``skipped``).

Every way a send can end is recorded before ``deliver`` returns or raises, so nothing is
left ``sending`` to be re-sent when its lease runs out: an exception no sender classified
is retried like a 5xx ("unexpected error: ..."), up to ``max_attempts``; a
``ConfigurationError`` (a missing or refused credential) fails the action at once with
``failure: "configuration"`` and is re-raised so the entry point alerts an operator.

A run is bounded in time (``delivery.run_seconds``, which the policy keeps
``RECORD_SECONDS`` inside the lease): it starts a wait or an attempt only while that
attempt (``timeout_seconds`` for the answer plus up to 5 s to connect) can end within the
budget, and otherwise gives the action back (``published``, attempt recorded) and raises
``TransientError`` so Pub/Sub redelivers it. So no run outlasts its lease, and no other
instance takes over an action still being sent. (httpx's timeout bounds each wait for
bytes, not a whole answer: an answer trickled a byte at a time could still stretch one
attempt past its allowance.)

What can still arrive twice: a vendor that carried out a call whose answer never reached
us (timed out, connection cut, or the instance died before recording it) gets the call
again. Where the vendor takes our key, the second call names the same thing: Vitally
tasks carry ``externalId`` = the action id, Calendar events are inserted with the
action's own event id (409 on the second), mail carries a Message-ID made from the
action id (a Gmail mailbox keeps one of two messages with the same Message-ID;
other mail systems show both, recognisably the same), and the autoresponder and Slack
status are settings put whole, so a repeat changes nothing. Slack's ``chat.postMessage``
takes no key: a message whose answer was lost within ``timeout_seconds`` is posted again,
once per such retry; that window is the remaining duplicate risk.

Senders speak each vendor's API through httpx (``shared.sources.senders``); in dry-run
mode (``TAOPS_DELIVERY=dry-run``) nothing is called and the action records what would
have been sent.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.book.file import ACCOUNTS
from shared.exceptions import ConfigurationError, PermanentError, TransientError
from shared.faults import one_line
from shared.logs import log
from shared.models import utc_text
from shared.policy import Delivery
from shared.processing import OUTBOX
from shared.store import Document, Store, Transaction

# ``skipped``: a customer email to an account marked do_not_contact (never sent).
FINAL = frozenset({"delivered", "failed", "cancelled", "skipped"})


class RetryableError(TransientError):
    """A send that may succeed later; ``retry_after`` is the vendor's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


Sender = Callable[[Document], dict[str, Any]]


@dataclass
class Outcome:
    action_id: str
    status: str
    attempts: int = 0
    detail: str = ""
    # The action as it was before this delivery (a dry run reads it anyway; replay shows it).
    action: Document | None = None


def dry_run() -> bool:
    return os.environ.get("TAOPS_DELIVERY") == "dry-run"


def _withheld(tx: Transaction, action_id: str, doc: Document, now: datetime) -> bool:
    """A customer email whose account was marked do_not_contact after it was decided is
    skipped here, the last moment before it would be sent (recorded, with the reason)."""
    account_id = doc.get("customer_account")
    if not account_id or not (tx.get(ACCOUNTS, str(account_id)) or {}).get("do_not_contact"):
        return False
    skipped = {**doc, "status": "skipped", "skipped_reason": "do_not_contact", "skipped_at": utc_text(now)}
    tx.set(OUTBOX, action_id, {**skipped, "lease_until": None})
    return True


def _claim(store: Store, action_id: str, now: datetime, lease: int) -> Document | None:
    def body(tx: Transaction) -> Document | None:
        doc = tx.get(OUTBOX, action_id)
        if doc is None or doc.get("status") in FINAL or _withheld(tx, action_id, doc, now):
            return None
        if doc.get("status") == "sending" and str(doc.get("lease_until", "")) > utc_text(now):
            raise TransientError(f"action {action_id} is being delivered by another attempt")
        claimed = {**doc, "status": "sending", "lease_until": utc_text(now + timedelta(seconds=lease))}
        tx.set(OUTBOX, action_id, claimed)
        return claimed

    return store.run_transaction(body)


def _record_dry(store: Store, action_id: str, now: datetime) -> Outcome:
    """Dry run: nothing is called, so claiming and recording are one step."""

    def body(tx: Transaction) -> Outcome:
        doc = tx.get(OUTBOX, action_id)
        if doc is None or doc.get("status") in FINAL:
            status = (doc or {}).get("status", "unknown")
            return Outcome(action_id, status)
        if _withheld(tx, action_id, doc, now):
            return Outcome(action_id, "skipped", detail="the account is marked do_not_contact")
        attempts = int(doc.get("attempts") or 0)
        tx.set(
            OUTBOX,
            action_id,
            {
                **doc,
                "status": "delivered",
                "delivered_at": utc_text(now),
                "dry_run": True,
                "attempts": attempts,
                "lease_until": None,
            },
        )
        return Outcome(action_id, "delivered", attempts, "dry run: nothing was called", doc)

    outcome = store.run_transaction(body)
    if outcome.status != "delivered":
        log("INFO", f"action {action_id} not sent: it is {outcome.status}", action_id=action_id)
    return outcome


def _record(store: Store, action_id: str, update: dict[str, Any]) -> None:
    def body(tx: Transaction) -> None:
        doc = tx.get(OUTBOX, action_id) or {}
        tx.set(OUTBOX, action_id, {**doc, **update})

    store.run_transaction(body)


def deliver(
    store: Store,
    action_id: str,
    senders: dict[str, Sender],
    policy: Delivery,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
    dry: bool | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Deliver ``action_id`` at most once. Raises ``TransientError`` when it should be
    retried later by Pub/Sub (a long Retry-After, or the run's time budget spent), and
    ``ConfigurationError`` after recording the action failed, so the caller can alert."""
    if dry if dry is not None else dry_run():
        return _record_dry(store, action_id, now)
    started = monotonic()

    def fits(wait: float) -> bool:
        """Whether waiting ``wait`` then one more attempt ends within the run's budget."""
        return monotonic() - started + wait + policy.attempt_seconds <= policy.run_seconds

    doc = _claim(store, action_id, now, policy.lease_seconds)
    if doc is None:
        current = store.get(OUTBOX, action_id)
        status = (current or {}).get("status", "unknown")
        log("INFO", f"action {action_id} not sent: it is {status}", action_id=action_id)
        return Outcome(action_id, status if current else "unknown")
    kind = str(doc.get("kind"))
    attempts = int(doc.get("attempts") or 0)
    history = list(doc.get("attempt_log") or [])
    sender = senders.get(kind)
    while True:
        if not fits(0):  # the claim itself took the budget (a slow store)
            _leave(store, action_id, attempts, history, doc.get("last_error"))
            raise TransientError(f"action {action_id}: no time left in this run to send it")
        attempts += 1
        try:
            if sender is None:
                raise PermanentError(f"no sender for action kind {kind!r}")
            result = sender(doc)
        except ConfigurationError as exc:
            history.append({"at": utc_text(now), "error": exc.reason})
            _fail(store, action_id, attempts, history, exc.reason, failure="configuration")
            raise
        except PermanentError as exc:
            history.append({"at": utc_text(now), "error": exc.reason})
            return _fail(store, action_id, attempts, history, exc.reason)
        except Exception as exc:  # retryable, or an answer no sender classified: retry, bounded
            error = str(exc) if isinstance(exc, TransientError) else _unexpected(exc)
            hint = exc.retry_after if isinstance(exc, RetryableError) else None
            # A vendor that says when to come back (429 with Retry-After) is not failing:
            # those tries are logged but do not use up ``max_attempts``, so a rate limit
            # that lasts a minute delays the action instead of failing it.
            history.append({"at": utc_text(now), "error": error, **({"retry_after": hint} if hint else {})})
            wait = (
                hint
                if hint is not None  # senders give no hint for a NaN or negative Retry-After
                else min(policy.backoff_cap_seconds, policy.backoff_base_seconds * 2 ** (attempts - 1))
                * random.uniform(0.5, 1.0)
            )
            if sum(1 for entry in history if not entry.get("retry_after")) >= policy.max_attempts:
                return _fail(
                    store,
                    action_id,
                    attempts,
                    history,
                    f"gave up after {attempts} attempts: {error}",
                    failure="retries",
                )
            if wait > policy.max_retry_after_seconds:
                _leave(store, action_id, attempts, history, error)
                raise TransientError(f"{error} (retry in {wait:.0f}s)") from exc
            if not fits(wait):
                # Another attempt could end past the lease, where another instance may
                # take the action over and send it as well: the next delivery retries.
                _leave(store, action_id, attempts, history, error)
                raise TransientError(
                    f"{error} (this run's {policy.run_seconds:g}s are spent; left for the next delivery)"
                ) from exc
            sleep(wait)
            continue
        _record(
            store,
            action_id,
            {
                "status": "delivered",
                "delivered_at": utc_text(now),
                "attempts": attempts,
                "attempt_log": history,
                "result": result,
                "lease_until": None,
                "last_error": None,
            },
        )
        log("INFO", f"action {action_id} delivered", action_id=action_id, kind=kind, attempts=attempts)
        return Outcome(action_id, "delivered", attempts)


def _leave(store: Store, action_id: str, attempts: int, history: list[dict[str, Any]], error: Any) -> None:
    """Give the action back for the next delivery (Pub/Sub redelivers the message)."""
    _record(
        store,
        action_id,
        {
            "status": "published",
            "attempts": attempts,
            "last_error": error,
            "attempt_log": history,
            "lease_until": None,
        },
    )


def _unexpected(exc: Exception) -> str:
    return one_line(f"unexpected error: {exc.__class__.__name__}: {exc}", 500, "")


def _fail(
    store: Store,
    action_id: str,
    attempts: int,
    history: list[dict[str, Any]],
    reason: str,
    failure: str = "permanent",
) -> Outcome:
    _record(
        store,
        action_id,
        {
            "status": "failed",
            "failure": failure,
            "attempts": attempts,
            "last_error": reason,
            "attempt_log": history,
            "lease_until": None,
        },
    )
    log("ERROR", f"action {action_id} failed: {reason}", action_id=action_id, reason=reason, failure=failure)
    return Outcome(action_id, "failed", attempts, reason)
