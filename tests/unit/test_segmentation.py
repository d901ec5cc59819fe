from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.models import Segment
from shared.rules import segment_for


@pytest.mark.parametrize(
    ("developers", "segment"),
    [
        (0, Segment.COMMERCIAL),
        (1_499, Segment.COMMERCIAL),
        (1_500, Segment.ENTERPRISE),
        (9_999, Segment.ENTERPRISE),
        (10_000, Segment.STRATEGIC),
        (250_000, Segment.STRATEGIC),
    ],
)
def test_developer_boundaries_follow_the_handbook(policy, developers: int, segment: Segment) -> None:
    assert segment_for(developers, 50_000, policy.segmentation).segment is segment


def test_commercial_below_100k_arr_is_managed_and_at_100k_is_scaled_success(policy) -> None:
    below = segment_for(800, 99_999.99, policy.segmentation)
    at = segment_for(800, 100_000, policy.segmentation)
    assert below.managed is True
    assert at.managed is False
    assert "Scaled Success" in at.reason


@given(developers=st.integers(min_value=1_500, max_value=10**7), arr=st.floats(min_value=0, max_value=1e9))
def test_enterprise_and_strategic_are_managed_at_any_arr(policy, developers: int, arr: float) -> None:
    assert segment_for(developers, arr, policy.segmentation).managed


def test_negative_inputs_are_refused(policy) -> None:
    with pytest.raises(ValueError):
        segment_for(-1, 0, policy.segmentation)
