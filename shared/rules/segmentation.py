"""Customer segmentation: Strategic, Enterprise, Commercial; managed or unmanaged."""

from __future__ import annotations

from dataclasses import dataclass

from shared.models import Segment
from shared.policy import Segmentation


@dataclass(frozen=True)
class SegmentDecision:
    segment: Segment
    managed: bool
    reason: str


def segment_for(developers: int, arr: float, policy: Segmentation) -> SegmentDecision:
    """The tier an account falls in by its developer count, and whether a named TA manages it.

    A tier runs from its ``min_developers`` up to the next tier's minimum, exclusive.
    Within a tier that has ``unmanaged_from_arr``, ARR at or above it is unmanaged
    (the Scaled Success program).
    """
    if developers < 0 or arr < 0:
        raise ValueError("developers and arr cannot be negative")
    tier = max((t for t in policy.tiers if t.min_developers <= developers), key=lambda t: t.min_developers)
    if tier.unmanaged_from_arr is None:
        return SegmentDecision(
            tier.name, True, f"{developers:,} developers is {tier.name.value} (managed at any ARR)"
        )
    managed = arr < tier.unmanaged_from_arr
    side = "below" if managed else "at or above"
    kind = "managed" if managed else "unmanaged, Scaled Success"
    return SegmentDecision(
        tier.name,
        managed,
        f"{developers:,} developers is {tier.name.value}; ARR ${arr:,.0f} is {side} "
        f"${tier.unmanaged_from_arr:,.0f} ({kind})",
    )
