"""The OOO protocol's handler: Deel time off → the absence recorded and, for a TA, the
coverage plan re-drawn (``shared.handlers.coverage.replan``); whoever is away, the plans
they cover get another cover."""

from __future__ import annotations

from datetime import date, datetime

from shared.book import PEOPLE
from shared.events import EventEnvelope
from shared.exceptions import PermanentError
from shared.handlers.common import ABSENCES, named
from shared.handlers.coverage import merge, replace_away_covers, replan
from shared.handlers.overlay import PendingView
from shared.models import Absence
from shared.policy import Policy
from shared.processing import Decision, Delete, Handler, Put, ReadView
from shared.rules.absence import absence_window


def pto_names(event: EventEnvelope) -> list[tuple[str, str]]:
    """The documents a time off names, read with its marker: its absence and requester."""
    pto = event.payload
    return named((ABSENCES, pto.get("absence_id")), (PEOPLE, pto.get("requester_email")))


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
        absence_doc = absence.model_dump(mode="json")
        changes: list[Put | Delete] = [Put(ABSENCES, absence_id, absence_doc)]
        after = PendingView(view, changes, known={(PEOPLE, email): person})
        role = person.get("role")
        # The plan of this absence, and (whoever is away may be someone's cover: a peer
        # TA, a manager standing in) the plans its person covers, read side by side.
        own, covered = after.together(
            lambda: (
                replan(after, policy, absence_id, now)
                if role == "TA"
                else Decision(notes=[f"{email} ({role}) is away {first} to {last}: recorded"])
            ),
            lambda: replace_away_covers(after, policy, absence_doc, now),
        )
        return merge(Decision(changes), own, covered)

    return handle
