"""The pooled mailbox's threads: who wrote, and when the team owes a reply."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.rules.mail import SenderKind, WaitChange, apply_message, classify_sender
from shared.sources.gmail import normalize_message

NOW = datetime(2025, 6, 11, tzinfo=UTC)
GROUP = "group@example.com"


def message(sender: str, minutes: int, message_id: str = "m1", **headers: str) -> dict:
    resource = {
        "id": message_id,
        "threadId": "t1",
        "internalDate": str(1749557131000 + minutes * 60_000),
        "payload": {
            "headers": [
                {"name": "From", "value": f"Someone <{sender}>"},
                {"name": "Subject", "value": "Renewal"},
                *({"name": name.replace("_", "-"), "value": value} for name, value in headers.items()),
            ]
        },
    }
    return normalize_message(resource, GROUP, NOW, ["example.com"]).payload


def kind(sender: str, in_directory: bool = False, **headers: str) -> SenderKind:
    return classify_sender(message(sender, 0, **headers), GROUP, in_directory)[0]


def test_a_sender_is_team_by_company_domain_directory_or_the_group_address() -> None:
    assert kind("ana@example.com") is SenderKind.TEAM
    assert kind("ana.personal@gmail.test", in_directory=True) is SenderKind.TEAM
    assert kind(GROUP) is SenderKind.TEAM
    assert kind("pat@globex.example") is SenderKind.CUSTOMER


def test_auto_replies_bulk_mail_and_mailer_daemons_are_automated() -> None:
    assert kind("pat@globex.example", Auto_Submitted="auto-replied") is SenderKind.AUTOMATED
    assert kind("pat@globex.example", Auto_Submitted="no") is SenderKind.CUSTOMER
    assert kind("news@globex.example", Precedence="bulk") is SenderKind.AUTOMATED
    assert kind("MAILER-DAEMON@globex.example") is SenderKind.AUTOMATED
    assert kind("postmaster@globex.example") is SenderKind.AUTOMATED


def apply(thread, sender: str, minutes: int, message_id: str, who: SenderKind):
    doc = thread.model_dump(mode="json") if thread is not None else None
    return apply_message(doc, message(sender, minutes, message_id), who)


def test_a_customer_message_starts_a_wait_and_a_later_team_reply_ends_it() -> None:
    thread, note, change = apply(None, "pat@globex.example", 0, "a", SenderKind.CUSTOMER)
    assert change is WaitChange.STARTED and thread.waiting
    assert thread.waiting_since == datetime(2025, 6, 10, 12, 5, 31, tzinfo=UTC)
    assert "the team owes a reply" in note
    thread, note, change = apply(thread, "ana@example.com", 30, "b", SenderKind.TEAM)
    assert change is WaitChange.ENDED and not thread.waiting and thread.waiting_since is None
    assert "answered" in note


def test_a_customer_message_older_than_the_team_reply_is_already_answered() -> None:
    thread, _, _ = apply(None, "ana@example.com", 60, "a", SenderKind.TEAM)
    thread, note, change = apply(thread, "pat@globex.example", 30, "b", SenderKind.CUSTOMER)
    assert change is None and not thread.waiting
    assert "already answered" in note


def test_messages_out_of_order_keep_the_oldest_unanswered_one() -> None:
    thread, _, _ = apply(None, "pat@globex.example", 30, "b", SenderKind.CUSTOMER)
    thread, _, change = apply(thread, "pat@globex.example", 10, "a", SenderKind.CUSTOMER)
    assert change is WaitChange.MOVED
    assert thread.waiting_since == datetime(2025, 6, 10, 12, 15, 31, tzinfo=UTC)


def test_a_reply_between_two_customer_messages_restarts_the_wait_at_the_later_one() -> None:
    # Seen in the order: customer at 0, customer at 90, team reply at 45.
    thread, _, _ = apply(None, "pat@globex.example", 0, "a", SenderKind.CUSTOMER)
    thread, _, _ = apply(thread, "pat@globex.example", 90, "c", SenderKind.CUSTOMER)
    thread, note, change = apply(thread, "ana@example.com", 45, "b", SenderKind.TEAM)
    assert change is WaitChange.RESTARTED
    assert thread.waiting_since == datetime(2025, 6, 10, 13, 35, 31, tzinfo=UTC)
    assert "a new wait begins" in note


def test_an_automated_message_never_starts_a_wait() -> None:
    thread, note, change = apply(None, "mailer-daemon@globex.example", 0, "a", SenderKind.AUTOMATED)
    assert change is None and not thread.waiting and thread.customer_address is None
    assert "no reply owed" in note


def test_an_auto_reply_from_a_team_address_neither_starts_nor_ends_a_wait() -> None:
    # A TA's own out-of-office answering the group is not the team replying.
    assert kind("carla@example.com", Auto_Submitted="auto-replied") is SenderKind.AUTOMATED
    thread, _, _ = apply(None, "pat@globex.example", 0, "a", SenderKind.CUSTOMER)
    ooo = message("carla@example.com", 10, "b", Auto_Submitted="auto-replied")
    who = classify_sender(ooo, GROUP, in_directory=True)[0]
    thread, _, change = apply_message(thread.model_dump(mode="json"), ooo, who)
    assert change is None and thread.waiting
