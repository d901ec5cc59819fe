"""Internal QBRs: first week of every fiscal quarter, 60 minutes per AE; the TA joins for the
accounts the AE and TA share, with the CE; TS and Sales leadership select which accounts
are reviewed.

Each AE whose accounts have a TA gets one reminder a quarter (``qbr:{ae}:FY2027-Q4``),
owed from ``qbr.remind_working_days_before`` working days before the QBR week until that
week is over. It goes to the AE, to the TAs who share accounts with them and to those
accounts' CEs, with the TA Director and the TS VP copied, and carries ``accounts``: the
shared accounts ranked as for the MBR's Top 3, each with its one-line state, for leadership
to choose from. Each person's copy has its own key (``qbr:{ae}:{period}:{email}``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.book import ACCOUNTS, PEOPLE
from shared.cadences import Due, register
from shared.handlers.common import ViewDirectory
from shared.messages import plural
from shared.policy import Policy
from shared.processing import Decision, ReadView
from shared.rules.agenda import state_line
from shared.rules.fiscal import qbr_week, quarter_of_period
from shared.rules.notify import names, tell
from shared.rules.reviews import ReminderWindow, leader, owed_somewhere, qbr_due
from shared.rules.routing import name_of
from shared.rules.top3 import rank
from shared.store import Store, Where

JOB = "qbr-reminder"
CADENCE = "qbr"
QBR_MINUTES = 60
SELECTION = "TS and Sales leadership select which accounts will be reviewed"


class QbrReminder:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        open_for: dict[str, list[ReminderWindow]] = {}
        if not owed_somewhere(qbr_due, now, policy.qbr.remind_working_days_before, policy.calendar):
            return []  # outside every QBR window neither the directory nor the book is read
        for email, person in sorted(store.query(PEOPLE, Where("role", "==", "AE"))):
            timezone = person.get("timezone") or policy.group_mail.time_zone
            found = qbr_due(now, policy.qbr.remind_working_days_before, timezone, policy.calendar)
            if found:
                open_for[email] = found
        if not open_for:
            return []  # no AE's window is open: the book is not read
        # Each open AE's own accounts (what their reminder reads again), never the whole book.
        shared = {
            ae
            for ae in open_for
            if any(doc.get("ta") for _, doc in store.query(ACCOUNTS, Where("ae", "==", ae)))
        }
        return [
            Due(JOB, ae, window.period, f"qbr:{ae}:{window.period}", window.data())
            for ae, windows in open_for.items()
            if ae in shared
            for window in windows
        ]

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        directory = ViewDirectory(view, now)
        ae = due.subject
        person = directory.person(ae)
        if person is None or person.get("role") != "AE":
            return Decision(notes=[f"{ae}: no longer an AE, no QBR reminder for {due.period}"])
        accounts = [doc for _, doc in view.query(ACCOUNTS, Where("ae", "==", ae)) if doc.get("ta")]
        if not accounts:
            return Decision(
                notes=[f"{person.get('name')}: no account shared with a TA, no QBR for {due.period}"]
            )
        quarter = quarter_of_period(due.period, policy.calendar)
        week_start, week_end = qbr_week(quarter, policy.calendar)
        ranked = rank(accounts, policy.calendar, quarter.start)
        by_id = {str(a["id"]): a for a in accounts}
        listed = [
            {
                **pick.as_dict(),
                "ta": by_id[pick.account_id]["ta"],
                "ce": by_id[pick.account_id].get("ce"),
                "state": state_line(
                    by_id[pick.account_id], policy.calendar, name_of(directory, by_id[pick.account_id]["ta"])
                ),
            }
            for pick in ranked
        ]
        tas = sorted({str(a["ta"]) for a in accounts})
        ces = sorted({str(a["ce"]) for a in accounts if a.get("ce")})
        copied = list(
            dict.fromkeys(
                found
                for ta in tas
                for role in ("TA_DIRECTOR", "TS_VP")
                if (found := leader(ta, role, directory))
            )
        )
        audience = list(dict.fromkeys([ae, *tas, *ces, *copied]))
        roles = self._roles(ae, tas, ces, copied, accounts)
        text = self._text(person, quarter.label, f"{week_start} to {week_end}", listed, audience, directory)
        common: dict[str, Any] = {
            "cadence": CADENCE,
            "period": due.period,
            "accounts": listed,
            "attendees": audience,
            "copied": copied,
            "qbr_week": {"start": week_start.isoformat(), "end": week_end.isoformat()},
            "minutes": QBR_MINUTES,
        }
        actions = []
        notes = [
            f"{person.get('name')}: internal QBR of {due.period} (week of {week_start}), "
            f"{plural(len(listed), 'shared account')} for leadership to choose from"
        ]
        for who in audience:
            told = tell(
                who,
                key=due.key if who == ae else f"{due.key}:{who}",
                reason=(
                    f"{person.get('name')}'s internal QBR for {quarter.label} is in the week of {week_start} "
                    f"(the first week of the fiscal quarter); {roles[who][1]}"
                ),
                subject=f"Internal QBR with {person.get('name')}, week of {week_start}: the accounts",
                text=text,
                account_id=None,
                directory=directory,
                calendar=policy.calendar,
                now=now,
                default_timezone=policy.group_mail.time_zone,
                qbr_role=roles[who][0],
                **common,
            )
            actions.append(told.action)
            notes.append(f"QBR reminder to {told.note}")
        return Decision(actions=actions, notes=notes)

    @staticmethod
    def _roles(
        ae: str, tas: list[str], ces: list[str], copied: list[str], accounts: list[dict[str, Any]]
    ) -> dict[str, tuple[str, str]]:
        """Each person's part in the QBR (``ae``, ``ta``, ``ce``, ``copied``) and the words
        for it; someone with two parts is told the closer one."""

        def of(field: str, who: str) -> str:
            return ", ".join(sorted(str(a.get("name") or a["id"]) for a in accounts if a.get(field) == who))

        roles = {c: ("copied", f"you are copied: {SELECTION}") for c in copied}
        roles.update({ce: ("ce", f"you are the CE of {of('ce', ce)}") for ce in ces})
        roles.update({ta: ("ta", f"you are the TA of {of('ta', ta)}, shared with the AE") for ta in tas})
        roles[ae] = ("ae", "you are the AE")
        return roles

    @staticmethod
    def _text(
        person: dict[str, Any],
        label: str,
        week: str,
        listed: list[dict[str, Any]],
        audience: list[str],
        directory: ViewDirectory,
    ) -> str:
        lines = "\n".join(
            f"{n}. {item['state']}\n   Why: {item['because']}" for n, item in enumerate(listed, 1)
        )
        return (
            f"{person.get('name')}'s internal QBR for {label} is in the week of {week}: {QBR_MINUTES} "
            f"minutes with the account teams ({names(directory, audience)}), Product, Finance, Legal, TS "
            f"and Sales leadership. {SELECTION}; here are the accounts the AE shares with a TA, ranked "
            f"by the Top 3 criteria (top ARR, renewing this quarter, expansion opportunity):\n{lines}\n\n"
            "Account teams: bring each account's main success plan goals, the strategies to execute them, "
            "and what you need from the rest of the business."
        )


register(QbrReminder())
