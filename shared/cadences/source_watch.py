"""Sources that go quiet (``source-watch``): one ``ops.alert`` when a watched source has
been silent past ``operations.quiet_after_hours`` (or the Gmail watch failed to renew or
expired), keyed ``quiet:{source}:{since}`` so each silence is told once however often the
job ticks; and one ``back:{source}:{since}`` when that source is heard again.

``due`` reads the handful of small state documents ``shared.quiet.source_status`` reads
(two per source); ``decide`` re-reads the source's alert state in the event's transaction
and records what the operators were told in ``source_alerts/{source}``. A source never
heard is watched from the first tick that saw it (``watch:{source}``, no alert): a new
deployment is not quiet from the epoch.
"""

from __future__ import annotations

from datetime import datetime

from shared.alerts import source_alert
from shared.cadences import Due, register
from shared.models import utc_text
from shared.policy import Policy
from shared.processing import Decision, Put, ReadView
from shared.quiet import SOURCE_ALERTS, source_status
from shared.store import Store

JOB = "source-watch"


class SourceWatch:
    job = JOB

    def due(self, store: Store, policy: Policy, now: datetime) -> list[Due]:
        found = []
        for status in source_status(store, policy, now):
            name = status.source
            if status.quiet and status.since and status.alerted != status.since:
                data = {"since": status.since, "reason": status.reason, "last_heard": status.last_heard}
                found.append(Due(JOB, name, status.since, f"quiet:{name}:{status.since}", data))
            elif not status.quiet and status.alerted:
                data = {"since": status.alerted, "reason": status.reason, "last_heard": status.last_heard}
                found.append(Due(JOB, name, status.alerted, f"back:{name}:{status.alerted}", data))
            elif not status.quiet and status.watching_since is None and status.last_heard is None:
                found.append(Due(JOB, name, "watch", f"watch:{name}", {}))
        return found

    def decide(self, view: ReadView, due: Due, policy: Policy, now: datetime) -> Decision:
        name = due.subject
        state = dict(view.get(SOURCE_ALERTS, name) or {"source": name})
        if due.key.startswith("watch:"):
            if state.get("watching_since"):
                return Decision(notes=[f"{name}: already watched since {state['watching_since']}"])
            state["watching_since"] = utc_text(now)
            return Decision(
                changes=[Put(SOURCE_ALERTS, name, state)],
                notes=[f"{name}: never heard yet; watched from now"],
            )
        since = str(due.data["since"])
        reason = str(due.data.get("reason") or "")
        if due.key.startswith("quiet:"):
            text = (
                f"taops has not heard from {name} as it should: {reason} (since {since}). "
                "Check the source's webhook or subscription and its credentials; `taops sources` "
                "shows every source's state. Events it did not send are not coming by themselves."
            )
            state.update(quiet_since=since, alerted_at=utc_text(now), reason=reason)
            action = source_alert(policy, name, since, text, now, back=False)
            note = f"{name} is quiet: {reason}; operators alerted"
        else:
            text = f"{name} is heard again ({reason}); it was quiet since {since}."
            state.update(quiet_since=None, back_at=utc_text(now), reason=reason)
            action = source_alert(policy, name, since, text, now, back=True)
            note = f"{name} is back: {reason}; operators told"
        return Decision(changes=[Put(SOURCE_ALERTS, name, state)], actions=[action], notes=[note])


register(SourceWatch())
