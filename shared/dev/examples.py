"""What ``taops dev`` offers to try: a customer's mail to the pooled mailbox and signed
vendor webhooks, built from the vendor fixtures in ``tests/events``."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The demo book's customer the example mail comes from: Tyrell's champion (TA Ana Ruiz,
# Europe/Berlin); another book's first champion otherwise.
EXAMPLE_SENDER = "champion@tyrell.test"


def example_mail(book: Path, mailbox: str) -> dict[str, Any]:
    """A customer's mail to the pooled mailbox: a Gmail message resource in the shape of
    ``messages.get`` with ``format=metadata`` (tests/events/gmail_message_get_metadata_response.json),
    from a champion of the book (Tyrell's in the demo book). ``id``, ``threadId``,
    ``historyId`` and ``internalDate`` are left out: the mailbox assigns them on arrival,
    so each post is a new thread arriving at the pipeline's time."""
    template = json.loads(
        (ROOT / "tests" / "events" / "gmail_message_get_metadata_response.json").read_text(encoding="utf-8")
    )
    sender, account = _example_sender(book)
    message = {k: v for k, v in template.items() if k not in ("id", "threadId", "historyId", "internalDate")}
    message["snippet"] = (
        "Hi team, our builds have been failing since the upgrade on Monday. Can someone help?"
    )
    message["payload"] = {
        **template["payload"],
        "headers": [
            {"name": "From", "value": f"{account} Champion <{sender}>"},
            {"name": "To", "value": mailbox},
            {"name": "Subject", "value": "Builds failing since the upgrade"},
        ],
    }
    return message


def _example_sender(book: Path) -> tuple[str, str]:
    """(a champion's email, their account's name) from ``book``, Tyrell's when it has it."""
    try:
        accounts = json.loads(book.read_text(encoding="utf-8")).get("accounts") or []
    except (OSError, ValueError, AttributeError):
        accounts = []
    found = [(str(c), str(a.get("name") or a.get("id"))) for a in accounts for c in a.get("champions") or []]
    preferred = [pair for pair in found if pair[0] == EXAMPLE_SENDER]
    return (preferred or found or [("customer@customer.test", "Customer")])[0]


def book_ta(book: Path) -> tuple[str, str]:
    """(email, name) of the first TA of ``book``, who the example time off is for (a TA,
    so the approval draws a coverage plan); the demo book's Ana Ruiz when it has none."""
    try:
        people = json.loads(book.read_text(encoding="utf-8")).get("people") or []
    except (OSError, ValueError, AttributeError):
        people = []
    for person in people:
        if isinstance(person, dict) and person.get("role") == "TA" and person.get("email"):
            return str(person["email"]).strip().lower(), str(person.get("name") or person["email"])
    return "ana@example.com", "Ana Ruiz"


def curl_lines(urls: dict[str, str], env: dict[str, str], book: Path | None = None) -> list[str]:
    """Ready-to-paste commands posting the bundled vendor payloads, correctly signed; the
    time off is for a TA of ``book``."""
    from shared.sources import deel

    events = ROOT / "tests" / "events"
    email, name = book_ta(book) if book is not None else ("ana@example.com", "Ana Ruiz")
    lines = []
    for template_name in ("deel_time_off_created.json", "deel_time_off_reviewed_approved.json"):
        template = json.loads((events / template_name).read_text(encoding="utf-8"))
        body = deel_body(
            template,
            email=email,
            name=name,
            start=date(2026, 12, 14),
            end=date(2026, 12, 18),
        )
        signature = deel.signature(env["TAOPS_DEEL_SIGNING_KEY"], body.encode())
        lines.append(
            f"curl -sS -X POST {urls['deel_webhook']} -H 'content-type: application/json' "
            f"-H 'x-deel-signature: {signature}' --data-binary '{body}'"
        )
    om = events / "salesforce_outbound_message_opportunity.xml"
    lines.append(
        f"curl -sS -X POST '{urls['salesforce_webhook']}?token={env['TAOPS_SALESFORCE_TOKEN']}' "
        f"-H 'content-type: text/xml' --data-binary @{om}"
    )
    ping = events / "vitally_playbook_webhook_UNCONFIRMED.json"
    lines.append(
        f"curl -sS -X POST '{urls['vitally_webhook']}?token={env['TAOPS_VITALLY_TOKEN']}' "
        f"-H 'content-type: application/json' --data-binary @{ping}"
    )
    return lines


def deel_body(
    template: dict[str, Any],
    *,
    email: str,
    start: date,
    end: date,
    name: str | None = None,
    absence_id: str | None = None,
) -> str:
    """A Deel time-off payload (a vendor fixture as ``template``) for ``email`` and dates."""
    body = copy.deepcopy(template)
    resource = body["data"]["resource"]
    resource.update(start_date=start.isoformat(), end_date=end.isoformat())
    if absence_id:
        resource["id"] = absence_id
    resource["requester"]["work_email"] = email
    if name:
        resource["requester"]["name"] = name
    return json.dumps(body, separators=(",", ":"))
