"""Coverage plans follow the world (design §5): one ``replan`` path for every change that
can alter an absence's plan.

``replan(view, policy, absence_id, now, because=None)`` re-derives the plan of one absence
from the state as it is now and returns the ``Decision``. Keys of the actions carry their
content (the dates, the accounts, the covers), so only the differences are told and an
unchanged plan sends nothing. Callers: Deel's own updates (``shared.handlers.pto``), a
cover who is away (``replace_away_covers``), and any handler whose event can move an
account into or out of a plan (a renewal date, a Lighthouse account's health).

What it reads, all through ``view``:

- ``absences/{absence_id}``: the absence (person, dates, status);
- ``people/{email}``, each read by key when first needed: the TA, their peers and
  manager, the account teams and covers (names, Slack ids, roles), never the whole
  directory;
- ``accounts`` where ``ta`` is the TA: the TA's book, whose renewal dates, health and
  Slack activity decide which accounts need cover (a withdrawal reads only the accounts
  whose customers were told, by key);
- ``absences`` of the TA's named peers, manager and current covers that overlap the
  absence: who else is away then;
- ``coverage_plans/{absence_id}``: the plan as stored;
- ``outbox`` where ``absence_id`` is the absence: what was told and what is pending.

A caller that changes any of these in the same decision (Deel's handler records the
absence, a renewal handler the new renewal date) passes ``PendingView(view, changes)``, so
the plan is drawn from the state as it will be once the decision commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any

from shared.book import ACCOUNTS
from shared.handlers.common import ABSENCES, COVERAGE_PLANS, ViewDirectory, absences_of
from shared.handlers.overlay import PendingView
from shared.messages import plural
from shared.models import Timer, utc_text
from shared.outbox_index import outbox_of
from shared.policy import Policy
from shared.processing import OUTBOX, Decision, Delete, Put, ReadView
from shared.rules.coverage import AWAY_STATUSES, renews_during
from shared.rules.customer_email import history
from shared.rules.ooo import OooOutcome, plan_absence, window_for, withdraw
from shared.rules.ooo.audiences import TEAM_ROLES, told_so_far
from shared.rules.ooo.notices import digest
from shared.rules.ooo.plan import is_shared
from shared.store import Document, Where

WITHDRAWN = {"REJECTED": "denied", "CANCELED": "cancelled"}


def replan(
    view: ReadView, policy: Policy, absence_id: str, now: datetime, because: str | None = None
) -> Decision:
    """The plan of ``absence_id`` re-derived from the state read through ``view``, and what
    it calls for; ``because`` says what changed in the world, for the notices and notes.
    Nothing for an absence that is unknown, not a TA's, or already over. Raises what the
    store raises (transient)."""
    absence = view.get(ABSENCES, absence_id)
    if absence is None:
        return Decision(notes=[f"no absence {absence_id}: no plan to re-draw"])
    directory = ViewDirectory(view, now)
    email = str(absence["person"])
    status = str(absence["status"])
    withdrawn = status in WITHDRAWN
    # The TA, the stored plan, the absence's actions and (unless it is withdrawn) the TA's
    # book, read together: none depends on another.
    person, plan, outbox, book = view.together(
        lambda: directory.person(email),
        lambda: view.get(COVERAGE_PLANS, absence_id),
        lambda: outbox_of(view.lookup, "absence_id", absence_id),
        lambda: [] if withdrawn else view.query(ACCOUNTS, Where("ta", "==", email)),
    )
    if person is None or person.get("role") != "TA":
        return Decision()  # only a TA's absence has a coverage plan
    if status in AWAY_STATUSES and str(absence["ends_at"]) <= utc_text(now):
        return Decision(notes=[f"time off {absence_id} is over: nothing to re-plan"])
    window = window_for(absence)
    people = directory.by_email()  # read by key: the people the plan concerns
    decided: OooOutcome
    # An account's customer emails that a notice keeps its gap from: those due within the
    # span the notice can go in (``shared.rules.customer_email.compose`` gives it).
    customer_emails = partial(history_between, view)
    if withdrawn:
        # Withdrawing needs only the accounts whose customers were told (to hear back
        # through the same channel, unless they asked not to be contacted since).
        told_now = told_so_far(outbox)
        told = sorted(told_now.customers)
        directory.prefetch(told_now.people)
        decided = withdraw(
            absence_id,
            person,
            window,
            WITHDRAWN[status],
            plan,
            outbox,
            people,
            policy,
            now,
            accounts={a_id: doc for a_id in told if (doc := view.get(ACCOUNTS, a_id)) is not None},
            history=customer_emails,
        )
    else:
        accounts = [d for _, d in book]
        # Who else is away matters for the named peers, the manager and the covers the
        # stored plan has (a replaced cover is told why): their absences overlapping this
        # one, so the reads follow the TA's team, not the company's absences.
        concerned = {
            *(person.get("coverage_peers") or []),
            person.get("manager"),
            *(item.get("cover") for item in (plan or {}).get("items") or []),
        }
        # The people the plan names, in one round trip rather than as each is met (those
        # concerned, and once the plan is shared the account teams it tells), read
        # together with those absences.
        shared = is_shared(status, policy)
        named = [*concerned, *(a.get(role) for a in (accounts if shared else ()) for role in TEAM_ROLES)]
        # A shared plan's changes are routed (design §5): who of them is away now is read
        # in the same round trip, not one query per person as routing meets them.
        routed = (plan or {}).get("status") == "shared"
        _, away, _ = view.together(
            lambda: directory.prefetch(named),
            lambda: overlapping(view, absence, concerned),
            lambda: directory.expect([email, *named]) if routed else None,
        )
        others = [d for d in away if d.get("id") != absence_id] + [absence]
        decided = plan_absence(
            absence_id,
            status,
            person,
            window,
            people,
            accounts,
            others,
            outbox,
            policy,
            now,
            before=plan,
            because=because,
            directory=directory,
            history=customer_emails,
        )
    return _decision(decided, absence_id, outbox, now)


def history_between(
    view: ReadView, account_id: str, since: datetime, until: datetime | None
) -> Sequence[Mapping[str, Any]]:
    """An account's customer emails that reached, or will reach, the customer, due from
    ``since`` and before ``until``."""
    return history(view, account_id, counted_only=True, since=since, until=until)


def overlapping(view: ReadView, absence: Document, emails: Iterable[object]) -> list[Document]:
    """The absences of ``emails`` that overlap ``absence``'s window, in id order, on the
    index routing uses."""
    window = (Where("ends_at", ">", absence["starts_at"]), Where("starts_at", "<", absence["ends_at"]))
    return [doc for _, doc in absences_of(view, emails, *window)]


def span_of(absence: Document) -> str:
    """An absence's days as a sentence says them: "on 2026-12-18", "2026-12-14 to 2026-12-18"."""
    first, last = absence.get("start_date"), absence.get("end_date")
    return f"on {first}" if first == last else f"{first} to {last}"


def replace_away_covers(view: ReadView, policy: Policy, absence: Document, now: datetime) -> Decision:
    """``absence`` takes its person away: every other plan they cover that overlaps it is
    re-planned, so a free peer (else the TA's manager) takes their accounts and the TA, the
    old cover and the new one are told. One query, on the plans' ``covers``; a plan whose
    window is over, or an absence that does not take the person away, changes nothing.

    When that absence is later cancelled or moved away, nothing flips back: the plans keep
    their new covers (who were told), and the person is free for accounts that join later.
    """
    if absence.get("status") not in AWAY_STATUSES:
        return Decision()
    person = str(absence["person"])
    covered = view.query(
        COVERAGE_PLANS,
        Where("covers", "array_contains", person),
        Where("end", ">", max(str(absence["starts_at"]), utc_text(now))),
    )
    affected = [
        plan_id
        for plan_id, plan in covered
        if str(plan["start"]) < str(absence["ends_at"]) and plan_id != absence.get("id")
    ]
    if not affected:
        return Decision()
    # Each plan re-drawn from what it reads alone: side by side.
    decisions = view.together(*(partial(replan, view, policy, plan_id, now) for plan_id in affected))
    for plan_id, decision in zip(affected, decisions, strict=True):
        decision.notes = [f"plan {plan_id}: {note}" for note in decision.notes]
    note = (
        f"{person} is away {span_of(absence)}: "
        f"{plural(len(affected), 'coverage plan')} they cover re-planned ({', '.join(affected)})"
    )
    return merge(Decision(notes=[note]), *decisions)


def _decision(
    decided: OooOutcome, absence_id: str, outbox: Sequence[tuple[str, Document]], now: datetime
) -> Decision:
    changes: list[Put | Delete] = []
    if decided.plan is not None:
        changes.append(Put(COVERAGE_PLANS, absence_id, decided.plan.model_dump(mode="json")))
    docs = dict(outbox)
    for action_id in decided.cancel:
        cancelled = {**docs[action_id], "status": "cancelled", "cancelled_at": utc_text(now)}
        changes.append(Put(OUTBOX, action_id, cancelled))
    changes += [Put(OUTBOX, action_id, record) for action_id, record in decided.skipped]
    return Decision(changes, decided.actions, decided.notes, outbox_read=docs)


def merge(*decisions: Decision) -> Decision:
    """One decision out of several, in order."""
    out = Decision()
    for decision in decisions:
        out.changes += decision.changes
        out.actions += decision.actions
        out.notes += decision.notes
        out.timers += decision.timers
        out.cancel_timers += decision.cancel_timers
        out.outbox_read.update(decision.outbox_read)
    return out


def replan_for_account(
    view: ReadView,
    decision: Decision,
    account: Document,
    policy: Policy,
    now: datetime,
    because: str,
    renewal_dates: Sequence[str] = (),
) -> Decision:
    """Something about ``account`` changed in ``decision`` (its renewal moved, it entered
    Lighthouse): every absence of its TA that has not ended, and that the change can
    touch, is re-drawn as the decision will leave the world, and ``decision`` comes back
    with what those re-plans call for (only differences are told: an unaffected plan
    sends nothing). With ``renewal_dates`` (the old and new date of a moved renewal),
    only the absences whose renewal window holds one of them can change. The
    ``REPLANS_PER_COMMIT`` soonest are re-drawn here, the others by ``replan_timer``."""
    ta = account.get("ta")
    if not ta:
        return decision
    live = view.query(ABSENCES, Where("person", "==", ta), Where("ends_at", ">", utc_text(now)))
    touched = [
        (absence_id, absence)
        for absence_id, absence in sorted(live)
        if absence.get("status") in AWAY_STATUSES
        and (
            not renewal_dates
            or any(
                renews_during(date.fromisoformat(d[:10]), window_for(absence), policy.coverage)
                for d in renewal_dates
            )
        )
    ]
    # The soonest absences are re-drawn in this commit; any beyond them, one transaction
    # each, at the next health-check tick (a TA with dozens of absences booked would
    # otherwise make one commit of thousands of actions).
    soonest = sorted(touched, key=lambda pair: (str(pair[1].get("starts_at")), pair[0]))
    now_ids = {absence_id for absence_id, _ in soonest[:REPLANS_PER_COMMIT]}
    after = PendingView(view, decision.changes)
    replans = after.together(
        *(
            partial(replan, after, policy, absence_id, now, because=because)
            for absence_id, _ in touched
            if absence_id in now_ids
        )
    )
    later = [absence_id for absence_id, _ in soonest[REPLANS_PER_COMMIT:]]
    if later:
        decision.timers += [replan_timer(absence_id, because, now) for absence_id in later]
        decision.notes.append(
            f"{plural(len(later), 'more coverage plan')} of {ta} re-drawn at the next health-check, "
            f"one at a time ({', '.join(later)})"
        )
    return merge(decision, *replans)


# How many of a TA's plans one event re-draws in its own commit (the rest: replan_timer).
REPLANS_PER_COMMIT = 20
REPLAN_TIMER = "coverage"


def replan_timer(absence_id: str, because: str, now: datetime) -> Timer:
    """A re-plan of ``absence_id`` deferred to the next health-check tick: it re-draws the
    plan from the state as it is then, saying ``because``."""
    return Timer(
        key=f"{REPLAN_TIMER}:{absence_id}:{digest(because)}",
        kind=REPLAN_TIMER,
        job="health-check",
        due_at=now,
        subject=f"{ABSENCES}/{absence_id}",
        data={"because": because},
    )


def replan_timer_fired(view: ReadView, timer: Document, now: datetime, policy: Policy) -> Decision:
    """A deferred re-plan (``replan_timer``): the plan re-drawn now."""
    absence_id = str(timer["subject"]).partition("/")[2]
    return replan(view, policy, absence_id, now, because=(timer.get("data") or {}).get("because"))
