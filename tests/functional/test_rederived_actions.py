"""Actions derived again without the rule reading them, on the embedded store."""

from __future__ import annotations

from shared.store import EmbeddedStore
from tests.rederived import check_rederived_actions


def test_an_action_derived_again_unread_is_dropped_revived_or_left_as_a_person_decided() -> None:
    check_rederived_actions(EmbeddedStore())
