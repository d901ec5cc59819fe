"""The pooled mailbox's SLA: "Team members will monitor incoming customer messages and
respond to them within 48 hrs."

A customer thread waits from its oldest customer message the team has not answered. Its
deadline is ``group_mail.sla_hours`` on the policy's ``sla_clock``, in the time zone of the
account's TA (else the mailbox's). Before the deadline a reminder (``sla_level`` 0), then
each step of the escalation ladder (``sla_level`` 1, 2, 3…) to its ``to``: the account's TA
(else every TA of the pooled team), the TA manager, the TA director. Each is routed around
absences and delivered inside the recipient's working hours (``shared.rules.routing``),
and each happens once per wait: its key is ``sla:{thread}:{waiting_since}:{level}``.

One timer per waiting thread stands for its next step. When it fires, the thread is read
again: a reply that came meanwhile means nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from shared.models import Action, MailThread, Timer, utc_text
from shared.policy import CalendarPolicy, GroupMail
from shared.rules.business_hours import calendar_key, clock_add, clock_hours_between, last_working_time
from shared.rules.routing import Directory, Reach, name_of, reach

SLA_JOB = "sla-check"
SLA_TIMER = "sla"
THREADS = "mail_threads"
WHO = {
    "team": "the account's TA",
    "ta": "the account's TA",
    "ta_manager": "the TA manager",
    "ta_director": "the TA director",
    "ts_vp": "the TS VP",
}


class People(Directory, Protocol):
    def with_role(self, role: str) -> list[str]:
        """Everyone in the directory with ``role``, by email."""


@dataclass(frozen=True)
class Step:
    level: int
    after_hours: float
    to: str

    @property
    def is_reminder(self) -> bool:
        return self.level == 0


def ladder(policy: GroupMail) -> list[Step]:
    """The reminder (when the policy asks for one) and the escalation steps, in order."""
    known = _LADDERS.get(id(policy))
    if known is None or known[0] is not policy:  # worked out once per policy object
        steps = [Step(s.level, s.after_hours, s.to) for s in policy.escalation_ladder]
        if policy.remind_before_breach_hours > 0:
            first = policy.escalation_ladder[0].to
            steps.insert(0, Step(0, policy.sla_hours - policy.remind_before_breach_hours, first))
        if len(_LADDERS) > 64:
            _LADDERS.clear()
        known = _LADDERS[id(policy)] = (policy, tuple(steps))
    return list(known[1])


# Each group-mail policy seen, by identity (kept, so its id stays its own), and its ladder.
_LADDERS: dict[int, tuple[GroupMail, tuple[Step, ...]]] = {}


def key(thread_id: str, waiting_since: datetime, level: int) -> str:
    return f"sla:{thread_id}:{utc_text(waiting_since)}:{level}"


def clock_words(policy: GroupMail) -> str:
    return "hours" if policy.sla_clock == "calendar" else "working hours"


@lru_cache(maxsize=4096)
def when(moment: datetime, timezone: str) -> str:
    """``Tue 1 Dec 10:00 CET``: how a person reads a moment, in the clock's time zone
    (remembered: every firing of a wait names its start and its deadline again)."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def hours_text(hours: float) -> str:
    return f"{hours:g}"


_CLOCK_AT: dict[tuple[object, ...], datetime] = {}


def _last_working_time(moment: datetime, timezone: str, calendar: CalendarPolicy) -> datetime:
    # Every firing of a wait asks again where its reminder falls.
    key = ("last working time", moment, timezone, calendar_key(calendar))
    found = _CLOCK_AT.get(key)
    if found is None:
        if len(_CLOCK_AT) > 20_000:
            _CLOCK_AT.clear()
        found = _CLOCK_AT[key] = last_working_time(moment, timezone, calendar)
    return found


def _clock_at(start: datetime, hours: float, clock: str, timezone: str, calendar: CalendarPolicy) -> datetime:
    # Every firing of a thread's timer asks again where each step of its wait falls.
    key = (start, hours, clock, timezone, calendar_key(calendar))
    found = _CLOCK_AT.get(key)
    if found is None:
        if len(_CLOCK_AT) > 20_000:
            _CLOCK_AT.clear()
        found = _CLOCK_AT[key] = clock_add(start, hours, clock, timezone, calendar)
    return found


@dataclass(frozen=True)
class Clock:
    """The SLA clock of one wait: where it started and how its hours count."""

    waiting_since: datetime
    timezone: str
    group: GroupMail
    calendar: CalendarPolicy

    def at(self, hours: float) -> datetime:
        return _clock_at(self.waiting_since, hours, self.group.sla_clock, self.timezone, self.calendar)

    def due(self, step: Step) -> datetime:
        """When a step is taken. A reminder whose time falls outside working hours (36
        working-day hours after a morning message is late evening) comes at the start of
        the last working hour before it instead, so it is read before the deadline."""
        nominal = self.at(step.after_hours)
        if not step.is_reminder:
            return nominal
        return max(self.waiting_since, _last_working_time(nominal, self.timezone, self.calendar))

    def elapsed(self, now: datetime) -> float:
        return clock_hours_between(
            self.waiting_since, now, self.group.sla_clock, self.timezone, self.calendar
        )

    @property
    def deadline(self) -> datetime:
        return self.at(self.group.sla_hours)


def start_wait(
    thread: MailThread, timezone: str, group: GroupMail, calendar: CalendarPolicy, now: datetime
) -> tuple[MailThread, Timer | None]:
    """A wait that begins (or moves earlier): its deadline and the timer of its next step.

    Steps already taken in this wait are kept (``sla_level``): a wait that only moved
    earlier never repeats one.
    """
    assert thread.waiting_since is not None
    clock = Clock(thread.waiting_since, timezone, group, calendar)
    return plan_next(thread, clock, {"clock_timezone": timezone, "deadline_at": clock.deadline})


def plan_next(
    thread: MailThread, clock: Clock, update: dict[str, Any] | None = None
) -> tuple[MailThread, Timer | None]:
    """The thread with its next step on ``clock`` named (and ``update`` made to it, in the
    same copy), and the timer that will take it (None when the ladder is climbed to the
    top)."""
    update = update or {}
    assert thread.waiting_since is not None
    level = update.get("sla_level", thread.sla_level)
    done = -1 if level is None else level
    upcoming = [s for s in ladder(clock.group) if s.level > done]
    if not upcoming:
        return thread.model_copy(
            update={**update, "next_sla_level": None, "next_sla_at": None, "sla_timer": None}
        ), None
    step = upcoming[0]
    due = clock.due(step)
    timer = Timer(
        key=key(thread.thread_id, thread.waiting_since, step.level),
        kind=SLA_TIMER,
        job=SLA_JOB,
        due_at=due,
        subject=f"{THREADS}/{thread_doc_id(thread)}",
        data={"waiting_since": utc_text(thread.waiting_since), "level": step.level},
    )
    return thread.model_copy(
        update={**update, "next_sla_level": step.level, "next_sla_at": due, "sla_timer": timer.id}
    ), timer


def thread_doc_id(thread: MailThread) -> str:
    from shared.events import doc_key

    return doc_key(thread.mailbox, thread.thread_id)


def due_steps(thread: MailThread, group: GroupMail, calendar: CalendarPolicy, now: datetime) -> list[Step]:
    """Steps of this wait whose time has come and that were not taken yet. After a long
    gap (an outage, a late sync) every escalation step that is due is taken once; the
    reminder only while the deadline is still ahead, since it would say nothing new."""
    assert thread.waiting_since is not None and thread.clock_timezone is not None
    clock = Clock(thread.waiting_since, thread.clock_timezone, group, calendar)
    done = -1 if thread.sla_level is None else thread.sla_level
    due = [s for s in ladder(group) if s.level > done and clock.due(s) <= now]
    if any(not s.is_reminder for s in due):
        due = [s for s in due if not s.is_reminder]
    return due


def audience(step: Step, thread: MailThread, people: People, group: GroupMail) -> list[str]:
    """Who a step is meant for, before routing: see ``group_mail.escalation_ladder``."""
    ta = thread.ta
    tas = [ta] if ta else sorted(people.with_role("TA"))
    if step.to in ("team", "ta"):
        return tas
    manager = (people.person(ta) or {}).get("manager") if ta else None
    if step.to == "ta_manager":
        if manager:
            return [str(manager)]
        return [group.owner] if group.owner else sorted(people.with_role("TA_MANAGER"))
    if step.to == "ta_director":
        director = (people.person(str(manager)) or {}).get("manager") if manager else None
        if director and (people.person(str(director)) or {}).get("role") == "TA_DIRECTOR":
            return [str(director)]
        return sorted(people.with_role("TA_DIRECTOR"))
    return sorted(people.with_role("TS_VP"))


@dataclass
class Escalation:
    """What one firing of a thread's timer decided."""

    thread: MailThread
    actions: list[Action] = field(default_factory=list)
    timer: Timer | None = None
    notes: list[str] = field(default_factory=list)


def _sender(thread: MailThread) -> str:
    if thread.customer_name and thread.customer_address:
        return f"{thread.customer_name} <{thread.customer_address}>"
    return thread.waiting_sender or thread.customer_address or "A customer"


def _step_reason(thread: MailThread, step: Step, clock: Clock, now: datetime, steps: int) -> str:
    group = clock.group
    unit = clock_words(group)
    # What has really elapsed: a reminder brought forward into working hours, or a step
    # taken late after an outage, says so.
    elapsed = hours_text(round(clock.elapsed(now), 1))
    who = thread.customer_name or thread.customer_address or "a customer"
    opened = f"{who} wrote '{thread.subject}' on {when(clock.waiting_since, clock.timezone)}"
    deadline = when(clock.deadline, clock.timezone)
    if step.is_reminder:
        return (
            f"{opened}; no team reply for {elapsed} {unit}: the {hours_text(group.sla_hours)}-hour SLA "
            f"is breached on {deadline}"
        )
    return (
        f"{opened}; no team reply for {elapsed} {unit} (SLA breached on {deadline}): "
        f"step {step.level} of {steps}, to {WHO.get(step.to, step.to)}"
    )


def _text(thread: MailThread, step: Step, clock: Clock, reason: str, account: str | None) -> str:
    head = "Reminder" if step.is_reminder else f"Escalation, step {step.level}"
    of = f" ({account})" if account else ""
    lines = [
        f"{head}: the pooled mailbox owes {_sender(thread)}{of} a reply.",
        f"Subject: {thread.subject or '(no subject)'}",
        f"Why you: {reason}.",
        f"Thread {thread.thread_id} in {thread.mailbox}. Reply to the customer (or make sure "
        "someone on the team does); a team reply stops these messages.",
    ]
    return "\n".join(lines)


def _message(
    step: Step,
    thread: MailThread,
    reaches: list[Reach],
    people: People,
    group: GroupMail,
    reason: str,
    text: str,
    now: datetime,
) -> Action:
    """One action per step: a direct message (Slack, else email) when one person hears it;
    the team's channel (else one email) when several do, delivered when the first of
    them is working."""
    assert thread.waiting_since is not None
    recipients = list(dict.fromkeys(r.to for r in reaches))
    starts = [r.not_before for r in reaches]
    not_before = None if any(s is None for s in starts) else min(s for s in starts if s is not None)
    common: dict[str, Any] = {
        "at": now,
        "not_before": not_before,
        "recipients": recipients,
        "account_id": thread.account_id,
        "reason": reason,
        "idempotency_key": key(thread.thread_id, thread.waiting_since, step.level),
        "thread_id": thread.thread_id,
        "sla_level": step.level,
        "cadence": "sla",
        "period": utc_text(thread.waiting_since),
        "meant_for": list(dict.fromkeys(r.route.meant_for for r in reaches)),
    }
    subject = (
        f"{'SLA reminder' if step.is_reminder else 'SLA escalation'}: {thread.subject or 'customer thread'}"
    )
    slack_ids = [(people.person(p) or {}).get("slack_id") for p in recipients]
    if len(recipients) == 1 and slack_ids[0]:
        return Action(kind="slack.message", channel=slack_ids[0], text=text, **common)
    if len(recipients) > 1 and group.slack_channel:
        mentions = " ".join(f"<@{s}>" for s in slack_ids if s)
        return Action(
            kind="slack.message", channel=group.slack_channel, text=f"{mentions}\n{text}".strip(), **common
        )
    return Action(kind="email.send", to=recipients, subject=subject, body=text, **common)


def escalate(
    thread: MailThread,
    people: People,
    account: Mapping[str, Any] | None,
    group: GroupMail,
    calendar: CalendarPolicy,
    now: datetime,
) -> Escalation:
    """The thread's timer fired at ``now``: take every step that is due and not taken,
    each routed and inside working hours, and plan the next one."""
    out = Escalation(thread)
    if not thread.waiting or thread.waiting_since is None or thread.clock_timezone is None:
        out.notes.append(f"'{thread.subject}': answered meanwhile, nothing to send")
        return out
    clock = Clock(thread.waiting_since, thread.clock_timezone, group, calendar)
    steps = due_steps(thread, group, calendar, now)
    ladder_size = len(group.escalation_ladder)
    account_id = thread.account_id
    account_name = str(account.get("name")) if account else None
    for step in steps:
        meant = audience(step, thread, people, group)
        if not meant:
            out.notes.append(f"step {step.level}: nobody in the directory is {WHO.get(step.to, step.to)}")
            continue
        reaches = [reach(p, now, account_id, people, calendar, group.time_zone) for p in meant]
        if step.is_reminder and all(
            r.not_before is not None and r.not_before >= clock.deadline for r in reaches
        ):
            names = ", ".join(name_of(people, r.to) for r in reaches)
            out.notes.append(
                f"'{thread.subject}': reminder dropped: {names} cannot read it before the deadline "
                f"({when(clock.deadline, clock.timezone)})"
            )
            continue
        reason = _step_reason(thread, step, clock, now, ladder_size)
        routed = [r.route.reason for r in reaches if r.route.reason]
        if routed:
            reason += "; " + "; ".join(routed)
        action = _message(
            step,
            thread,
            reaches,
            people,
            group,
            reason,
            _text(thread, step, clock, reason, account_name),
            now,
        )
        out.actions.append(action)
        names = ", ".join(name_of(people, r) for r in action.recipients)
        label = "reminder" if step.is_reminder else f"step {step.level}"
        held = (
            f", held for their working hours until {utc_text(action.not_before)}" if action.not_before else ""
        )
        out.notes.append(f"'{thread.subject}': {label} to {names}{held}")
    taken = {"sla_level": max(s.level for s in steps)} if steps else {}
    out.thread, out.timer = plan_next(thread, clock, taken)
    if out.timer is None and steps:
        out.notes.append(f"'{thread.subject}': the top of the ladder is reached")
    return out


def time_left(
    thread: Mapping[str, Any], group: GroupMail, calendar: CalendarPolicy, now: datetime
) -> float | None:
    """Hours on the SLA clock until the deadline (negative once breached), or None."""
    if not thread.get("waiting") or not thread.get("waiting_since") or not thread.get("deadline_at"):
        return None
    tz = str(thread.get("clock_timezone") or group.time_zone)
    deadline = datetime.fromisoformat(str(thread["deadline_at"]))
    return clock_hours_between(now, deadline, group.sla_clock, tz, calendar)
