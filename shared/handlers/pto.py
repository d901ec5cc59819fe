"""The OOO protocol's handler: Deel time off → the absence recorded and, for a TA, the
coverage plan and its actions (decided by ``shared.rules.ooo``)."""

from __future__ import annotations

from datetime import date, datetime

from shared.book import ACCOUNTS, PEOPLE
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.handlers.common import ABSENCES, COVERAGE_PLANS
from shared.models import Absence, utc_text
from shared.policy import Policy
from shared.processing import OUTBOX, Decision, Delete, Handler, Put, ReadView
from shared.rules.absence import absence_window
from shared.rules.ooo import plan_absence, window_for, withdraw
from shared.store import Document, Where


def pto_logged(policy: Policy) -> Handler:
    """Deel time off → the absence recorded and, for a TA, the coverage plan and its actions."""

    def handle(view: ReadView, event: EventEnvelope, now: datetime) -> Decision:
        pto = event.payload
        absence_id = str(pto["absence_id"])
        stored = view.get(ABSENCES, absence_id)
        email = pto.get("requester_email") or (stored or {}).get("person")
        if not email:
            if pto.get("deel_event") == "time-off.deleted":
                return Decision(
                    notes=[f"time off {absence_id} deleted before taops saw it: nothing to withdraw"]
                )
            raise PermanentError(f"time off {absence_id}: the requester has no work email in Deel")
        person = view.get(PEOPLE, email)
        if person is None:
            raise PermanentError(f"time off {absence_id}: requester {email} is not in the directory")
        status = str(pto["status"])
        if status == "USED":
            return Decision(notes=[f"time off {absence_id} of {email} is used: nothing changes"])
        first = pto.get("start_date") or (stored or {}).get("start_date")
        last = pto.get("end_date") or (stored or {}).get("end_date")
        if not first or not last:
            raise PermanentError(f"time off {absence_id}: no dates and no stored absence")
        start_half = (
            pto["start_half_day"] if pto.get("start_date") else bool((stored or {}).get("start_half_day"))
        )
        end_half = pto["end_half_day"] if pto.get("end_date") else bool((stored or {}).get("end_half_day"))
        try:
            starts, ends = absence_window(
                date.fromisoformat(first),
                date.fromisoformat(last),
                person.get("timezone") or "UTC",
                policy.absence,
                start_half_day=start_half,
                end_half_day=end_half,
            )
        except (ValueError, OverflowError) as exc:
            # Dates at the edge of the calendar overflow in the TA's time zone: bad input.
            raise PermanentError(f"time off {absence_id}: {exc}") from None
        absence = Absence(
            id=absence_id,
            person=email,
            start_date=first,
            end_date=last,
            start_half_day=start_half,
            end_half_day=end_half,
            type=pto.get("type") or (stored or {}).get("type"),
            status=status,
            starts_at=starts,
            ends_at=ends,
            source_version=event.source_version,
        )
        changes: list[Put | Delete] = [Put(ABSENCES, absence_id, absence.model_dump(mode="json"))]
        if person.get("role") != "TA":
            return Decision(
                changes, notes=[f"{email} ({person.get('role')}) is away {first} to {last}: recorded"]
            )

        absence_doc = absence.model_dump(mode="json")
        window = window_for(absence_doc)
        plan = view.get(COVERAGE_PLANS, absence_id)
        outbox = view.query(OUTBOX, Where("absence_id", "==", absence_id))
        if status in ("REJECTED", "CANCELED"):
            outcome = "denied" if status == "REJECTED" else "cancelled"
            decided = withdraw(
                absence_id, person, window, outcome, plan, outbox, _directory(view), policy, now
            )
        else:
            # Only absences still running when this one starts can take a cover away; the
            # range keeps the reads flat as the history of absences grows.
            overlapping = view.query(ABSENCES, Where("ends_at", ">", absence_doc["starts_at"]))
            others = [d for _, d in overlapping if d.get("id") != absence_id] + [absence_doc]
            accounts = [d for _, d in view.query(ACCOUNTS, Where("ta", "==", email))]
            decided = plan_absence(
                absence_id, status, person, window, _directory(view), accounts, others, outbox, policy, now
            )
        if decided.plan is not None:
            changes.append(Put(COVERAGE_PLANS, absence_id, decided.plan.model_dump(mode="json")))
        docs = dict(outbox)
        for action_id in decided.cancel:
            changes.append(
                Put(
                    OUTBOX,
                    action_id,
                    {**docs[action_id], "status": "cancelled", "cancelled_at": utc_text(now)},
                )
            )
        return Decision(changes, decided.actions, decided.notes)

    return handle


def _directory(view: ReadView) -> dict[str, Document]:
    return dict(view.query(PEOPLE))
