from __future__ import annotations

from datetime import UTC, datetime

from shared.rules.mail import apply_message, is_team_sender
from shared.sources.gmail import normalize_message

NOW = datetime(2025, 6, 11, tzinfo=UTC)


def message(sender: str, minutes: int, message_id: str = "m1") -> dict:
    resource = {
        "id": message_id,
        "threadId": "t1",
        "internalDate": str(1749557131000 + minutes * 60_000),
        "payload": {
            "headers": [
                {"name": "From", "value": f"Someone <{sender}>"},
                {"name": "Subject", "value": "Renewal"},
            ]
        },
    }
    return normalize_message(resource, "group@example.com", NOW, ["example.com"]).payload


def test_a_sender_is_team_by_company_domain_directory_or_the_group_address() -> None:
    assert is_team_sender(message("ana@example.com", 0), "group@example.com", in_directory=False)
    assert is_team_sender(message("ana.personal@gmail.test", 0), "group@example.com", in_directory=True)
    assert is_team_sender(message("group@example.com", 0), "group@example.com", in_directory=False)
    assert not is_team_sender(message("pat@globex.example", 0), "group@example.com", in_directory=False)


def test_a_team_reply_older_than_the_customer_message_does_not_answer_it() -> None:
    thread, _ = apply_message(None, message("ana@example.com", 0, "a"), from_team=True)
    thread, note = apply_message(
        thread.model_dump(mode="json"), message("pat@globex.example", 30, "b"), False
    )
    assert thread.waiting_since is not None and "owes a reply" in note
    assert thread.last_message_from_team is False


def test_a_late_arriving_customer_message_already_answered_does_not_reopen_the_thread() -> None:
    thread, _ = apply_message(None, message("ana@example.com", 60, "a"), from_team=True)
    thread, _ = apply_message(thread.model_dump(mode="json"), message("pat@globex.example", 30, "b"), False)
    assert thread.waiting_since is None
    assert thread.last_message_from_team is True  # the newest message is still the team's


def test_the_oldest_unanswered_customer_message_starts_the_clock() -> None:
    thread, _ = apply_message(None, message("pat@globex.example", 30, "b"), from_team=False)
    thread, _ = apply_message(thread.model_dump(mode="json"), message("pat@globex.example", 10, "a"), False)
    assert thread.waiting_since == datetime.fromtimestamp((1749557131000 + 10 * 60_000) / 1000, UTC)
