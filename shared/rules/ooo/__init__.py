"""The OOO protocol: what happens when a TA logs time off.

Pure: it takes the PTO event's facts, the TA, the directory, the TA's book, everyone's
absences, the stored plan and the actions already in the outbox for this absence, the
policy and ``now``; it returns the plan and the actions, each with its reason and an
idempotency key derived from what it means. Keys carry the content that matters (the
dates, the cover), so a change of plan sends only what changed and re-deriving an
unchanged plan sends nothing.

- ``plan``: which accounts need cover during the absence, and who covers each;
- ``audiences``: who hears about the plan (the TA and manager, account teams, covers,
  customers) and who was told before;
- ``notices``: the messages and settings, each an action with its reason and key;
- ``protocol``: the steps, in the handbook's order, for a plan and for its withdrawal.
"""

from shared.rules.ooo.audiences import TOLD
from shared.rules.ooo.notices import direct_message, plan_blocks
from shared.rules.ooo.plan import window_for
from shared.rules.ooo.protocol import OooOutcome, plan_absence, withdraw

__all__ = ["TOLD", "OooOutcome", "direct_message", "plan_absence", "plan_blocks", "window_for", "withdraw"]
