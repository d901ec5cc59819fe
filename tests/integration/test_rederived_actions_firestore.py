"""Actions derived again without the rule reading them, on the Firestore emulator: the
first commit's create meets the existing documents and ``process`` decides again."""

from __future__ import annotations

from shared.store.firestore import FirestoreStore
from tests.rederived import check_rederived_actions


def test_an_action_derived_again_unread_is_dropped_revived_or_left_as_a_person_decided(
    firestore_env: str,
) -> None:
    store = FirestoreStore(project=firestore_env)
    try:
        check_rederived_actions(store)
    finally:
        store.close()
