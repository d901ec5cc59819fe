"""The handbook's rules as pure functions.

Every rule takes what it needs (event, state, policy) and ``now`` as arguments and
returns a value or a decision. No clock, network or database is touched here, so a
rule's test needs no fake at all.
"""

from shared.rules.absence import absence_window
from shared.rules.business_hours import add_business_hours, business_hours_between, is_business_day
from shared.rules.fiscal import (
    FiscalQuarter,
    fiscal_quarter,
    is_first_week_of_fiscal_quarter,
    is_second_week_of_month,
    nth_week_of_month,
)
from shared.rules.segmentation import SegmentDecision, segment_for

__all__ = [
    "FiscalQuarter",
    "SegmentDecision",
    "absence_window",
    "add_business_hours",
    "business_hours_between",
    "fiscal_quarter",
    "is_business_day",
    "is_first_week_of_fiscal_quarter",
    "is_second_week_of_month",
    "nth_week_of_month",
    "segment_for",
]
