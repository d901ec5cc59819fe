"""Handlers: what each internal event does to the state, decided by the rules.

Each factory takes the policy and returns a ``Handler`` for ``shared.processing.process``:
it reads what it needs through the transaction's read view and returns a ``Decision``.
No clock, network or writes here. ``shared.dispatch`` maps event types to them.
"""

from shared.handlers.common import ABSENCES, COVERAGE_PLANS, HEALTH_CHANGES, MAIL_THREADS
from shared.handlers.health import LIGHTHOUSE_EXIT, health_changed, lighthouse_exit
from shared.handlers.mail import group_message
from shared.handlers.pto import pto_logged, pto_names
from shared.handlers.renewal import renewal_changed
from shared.handlers.timers import TIMER_FIRED, timer_event, timer_fired

__all__ = [
    "ABSENCES",
    "COVERAGE_PLANS",
    "HEALTH_CHANGES",
    "LIGHTHOUSE_EXIT",
    "MAIL_THREADS",
    "TIMER_FIRED",
    "group_message",
    "health_changed",
    "lighthouse_exit",
    "pto_logged",
    "pto_names",
    "renewal_changed",
    "timer_event",
    "timer_fired",
]
