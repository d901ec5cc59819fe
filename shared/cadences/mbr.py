"""MBRs (the handbook's Monthly Business Reviews): second week of every month, 30 minutes,
the TA with the TA Director and the TS VP, on the TA's Top 3 accounts.

Each TA gets one reminder a month (``mbr:{ta}:{YYYY-MM}``), owed from
``mbr.remind_working_days_before`` working days before the MBR week until that week is
over (``shared.rules.reviews``), carrying the Top 3 (``shared.rules.top3``), the attendees
and the 5/15/5 agenda (``shared.rules.agenda``). With ``mbr.calendar_event`` the MBR is also
put on the TA's Google Calendar (a ``calendar.event`` action). A TA who is away for the
whole MBR week is asked, with their manager, to reschedule it.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.book import ACCOUNTS, PEOPLE
from shared.cadences import Due, register
from shared.handlers.common import ABSENCES, HEALTH_CHANGES, ViewDirectory
from shared.models import Action, utc_text
from shared.policy import MBR_MINUTES, Policy
from shared.processing import Decision, ReadView
from shared.rules.agenda import mbr_agenda, render
from shared.rules.business_hours import is_business_day
from shared.rules.fiscal import mbr_week
from shared.rules.notify import Told, names, tell
from shared.rules.reviews import (
    ReminderWindow,
    away_all_week,
    leader,
    local_midnight,
    mbr_due,
    mbr_window,
    owed_somewhere,
)
from shared.rules.routing import name_of
from shared.rules.top3 import Pick, top3
from shared.store import Store, Where

JOB = "mbr-reminder"
CADENCE = "mbr"


def calendar_event_id(key: str) -> str:
    """A Google Calendar event id for ``key``: base32hex characters (a-v, 0-9), the same for
    every delivery of the action, so a retried insert finds its event already there (409)."""
    return "taops" + hashlib.sha256(key.encode()).hexdigest()[:40]


def previous_period(period: str) -> tuple[int, int]:
    year, month = (int(part) for part in period.split("-"))
    return (year, month - 1) if month > 1 else (year - 1, 12)


def event_day(window: ReminderWindow, weekday: int, policy: Policy) -> date | None:
    """The MBR's day for the calendar: the policy's weekday of the MBR week, else the next
    working day of that week, else its first working day; None in a week without one."""
    days = [window.week_start + timedelta(days=n) for n in range(7)]
    working = [d for d in days if is_business_day(d, policy.calendar)]
    later = [d for d in working if d.weekday() >= weekday]
    return later[0] if later else (working[0] if working else None)


ROLE_NAMES = {"TA_DIRECTOR": "TA Director", "TS_VP": "TS VP"}


def _with_roles(people: list[str], directory: ViewDirectory) -> str:
    """``Dana Idris (TA Director) and Vera Petrov (TS VP)``."""
    roles = [ROLE_NAMES.get(str((directory.person(p) or {}).get("role")), "leadership") for p in people]
    named = [f"{name_of(directory, p)} ({role})" for p, role in zip(people, roles, strict=True)]
    return " and ".join([", ".join(named[:-1]), named[-1]]) if len(named) > 1 else "".join(named)


class MbrReminder:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        dues: list[Due] = []
        if not owed_somewhere(mbr_due, now, policy.mbr.remind_working_days_before, policy.calendar):
            return dues  # outside every MBR window the directory is not read at all
        for email, person in sorted(store.query(PEOPLE, Where("role", "==", "TA"))):
            timezone = person.get("timezone") or policy.group_mail.time_zone
            for found in mbr_due(now, policy.mbr.remind_working_days_before, timezone, policy.calendar):
                dues.append(Due(JOB, email, found.period, f"mbr:{email}:{found.period}", found.data()))
        return dues

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        directory = ViewDirectory(view, now)
        ta = due.subject
        person = directory.person(ta)
        if person is None or person.get("role") != "TA":
            return Decision(notes=[f"{ta}: no longer a TA, no MBR reminder for {due.period}"])
        timezone = str(person.get("timezone") or policy.group_mail.time_zone)
        window = mbr_window(due.period, policy.mbr.remind_working_days_before, timezone, policy.calendar)
        accounts = sorted(
            (doc for _, doc in view.query(ACCOUNTS, Where("ta", "==", ta))), key=lambda a: a["id"]
        )
        picks = top3(accounts, policy.calendar, window.week_start)
        since = mbr_week(*previous_period(due.period), policy.calendar)[0]
        changes = self._changes(view, {str(a["id"]) for a in accounts}, local_midnight(since, timezone), now)
        agenda = mbr_agenda(accounts, picks, changes, since, policy.calendar)

        attendees = list(dict.fromkeys([ta, *self._leaders(ta, directory)]))
        absences = view.query(
            ABSENCES,
            Where("person", "==", ta),
            Where("ends_at", ">", utc_text(local_midnight(window.week_start, timezone))),
            Where("starts_at", "<", utc_text(window.closes)),
        )
        away = away_all_week(
            [doc for _, doc in absences], (window.week_start, window.week_end), timezone, policy.calendar
        )
        common: dict[str, Any] = {
            "cadence": CADENCE,
            "period": due.period,
            "top3": [p.account_id for p in picks],
            "top3_why": [p.as_dict() for p in picks],
            "attendees": attendees,
            "agenda": agenda,
            "mbr_week": {"start": window.week_start.isoformat(), "end": window.week_end.isoformat()},
            "minutes": MBR_MINUTES,
            "reschedule": away,
        }
        if away:
            return self._reschedule(due, person, window, picks, agenda, common, directory, policy, now)

        slot = self._slot(window, timezone, policy)
        where = (
            f"It is on your calendar for {slot[0]:%a %d %b %H:%M} ({timezone}); move it if that "
            "does not suit."
            if slot
            else "Book it in that week."
        )
        told = tell(
            ta,
            key=due.key,
            reason=(
                f"your MBR for {due.period} is in the week of {window.week_start} (the second week of "
                "the month); your Top 3 are chosen by the handbook's criteria"
            ),
            subject=f"Your MBR, week of {window.week_start:%d %b}: Top 3 and agenda",
            text=self._text(person, window, attendees, picks, agenda, directory, where),
            account_id=None,
            directory=directory,
            calendar=policy.calendar,
            now=now,
            default_timezone=policy.group_mail.time_zone,
            **common,
        )
        actions = [told.action]
        notes = [
            f"{person.get('name')}: MBR of {due.period} (week of {window.week_start}), Top 3 "
            f"{', '.join(common['top3']) or 'none (no accounts)'}; reminder to {told.note}"
        ]
        if slot:
            actions.append(self._event(due, person, slot, timezone, attendees, agenda, told, policy, now))
            notes.append(
                f"MBR on {ta}'s calendar {slot[0].isoformat()} with {names(directory, attendees[1:])}"
            )
        return Decision(actions=actions, notes=notes)

    @staticmethod
    def _leaders(ta: str, directory: ViewDirectory) -> list[str]:
        return [found for role in ("TA_DIRECTOR", "TS_VP") if (found := leader(ta, role, directory))]

    @staticmethod
    def _changes(view: ReadView, ids: set[str], since: datetime, now: datetime) -> list[dict[str, Any]]:
        """The category changes of ``ids`` from ``since`` to ``now`` (read by time, so the
        query costs the month's changes, not every account's history)."""
        until = utc_text(now)
        found = view.query(HEALTH_CHANGES, Where("at", ">=", utc_text(since)))
        return [doc for _, doc in found if doc.get("account_id") in ids and str(doc["at"]) <= until]

    @staticmethod
    def _slot(window: ReminderWindow, timezone: str, policy: Policy) -> tuple[datetime, datetime] | None:
        if not policy.mbr.calendar_event:
            return None
        day = event_day(window, policy.mbr.event_weekday, policy)
        if day is None:
            return None
        start = datetime.combine(day, policy.mbr.event_time, tzinfo=ZoneInfo(timezone))
        return start, start + timedelta(minutes=MBR_MINUTES)

    @staticmethod
    def _text(
        person: dict[str, Any],
        window: ReminderWindow,
        attendees: list[str],
        picks: list[Pick],
        agenda: dict[str, Any],
        directory: ViewDirectory,
        where: str,
    ) -> str:
        others = _with_roles(attendees[1:], directory) or "your leadership (nobody with the role is known)"
        top = "\n".join(f"{n}. {p.why}" for n, p in enumerate(picks, 1)) or "No accounts in your book."
        return (
            f"Your MBR for {window.week_start:%B %Y} is in the week of {window.week_start:%a %d %b} to "
            f"{window.week_end:%a %d %b}: {MBR_MINUTES} minutes with {others}. {where}\n\n"
            f"Your Top 3:\n{top}\n\n{render(agenda)}"
        )

    def _event(
        self,
        due: Due,
        person: dict[str, Any],
        slot: tuple[datetime, datetime],
        timezone: str,
        attendees: list[str],
        agenda: dict[str, Any],
        told: Told,
        policy: Policy,
        now: datetime,
    ) -> Action:
        key = f"{due.key}:calendar"
        return Action(
            kind="calendar.event",
            at=now,
            # The invitation goes out with the TA's reminder, inside their working hours.
            not_before=told.action.not_before,
            recipients=attendees,
            account_id=None,
            reason=f"the MBR of {due.period} on {person.get('name')}'s calendar, with its agenda",
            idempotency_key=key,
            calendar_id=due.subject,
            calendar_event_id=calendar_event_id(key),
            summary=f"MBR: {person.get('name')} ({due.period})",
            description=render(agenda),
            start=slot[0].isoformat(),
            end=slot[1].isoformat(),
            time_zone=timezone,
            attendees=attendees,
            send_updates=policy.mbr.send_updates,
            cadence=CADENCE,
            period=due.period,
        )

    def _reschedule(
        self,
        due: Due,
        person: dict[str, Any],
        window: ReminderWindow,
        picks: list[Pick],
        agenda: dict[str, Any],
        common: dict[str, Any],
        directory: ViewDirectory,
        policy: Policy,
        now: datetime,
    ) -> Decision:
        ta = due.subject
        name = person.get("name") or ta
        week = f"the week of {window.week_start} to {window.week_end}"
        reason = (
            f"the MBR of {due.period} falls in {week}, and {name} is away for all of it: it needs a new date"
        )
        top = "\n".join(f"{n}. {p.why}" for n, p in enumerate(picks, 1)) or "No accounts in the book."
        others = _with_roles(common["attendees"][1:], directory) or "the TA Director and TS VP"
        text = (
            f"{name} is away for the whole MBR week ({week}), so the {MBR_MINUTES}-minute MBR with "
            f"{others} needs another date.\n\nTop 3 for whenever it happens:\n{top}\n\n{render(agenda)}"
        )
        actions = []
        notes = []
        manager = person.get("manager")
        for who, key, role in (
            (ta, due.key, "you are the TA"),
            (manager, f"{due.key}:manager", "you are their manager"),
        ):
            if not who:
                notes.append(f"{name} has no manager to help reschedule the MBR")
                continue
            told = tell(
                str(who),
                key=key,
                reason=f"{reason}; {role}",
                subject=f"Reschedule the MBR of {name}: away the week of {window.week_start:%d %b}",
                text=text,
                account_id=None,
                directory=directory,
                calendar=policy.calendar,
                now=now,
                default_timezone=policy.group_mail.time_zone,
                **common,
            )
            actions.append(told.action)
            notes.append(
                f"{name} is away for the MBR week of {window.week_start}: reschedule asked of {told.note}"
            )
        return Decision(actions=actions, notes=notes)


register(MbrReminder())
