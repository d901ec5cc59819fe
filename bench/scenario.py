"""A generated scenario for the benchmarks: many vendor-shaped events over the demo book."""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
BOOK = ROOT / "shared" / "demo" / "book.json"


def _load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def generate(count: int, seed: int = 7) -> list[str]:
    """``count`` replay lines in time order: PTO lifecycles, health pings, renewals, mail, ticks."""
    rng = random.Random(seed)
    book = json.loads(BOOK.read_text())
    tas = [p["email"] for p in book["people"] if p["role"] == "TA"]
    accounts = book["accounts"]
    reviewed, ping, cdc, mail = (
        _load(n)
        for n in (
            "deel_time_off_reviewed_approved.json",
            "vitally_playbook_webhook_UNCONFIRMED.json",
            "salesforce_cdc_opportunity_update_cometd.json",
            "gmail_message_get_metadata_response.json",
        )
    )
    at = datetime(2026, 1, 5, tzinfo=UTC)
    lines = []
    # Each time off is requested, then approved, and then sometimes cancelled: one step of
    # one absence per Deel event, as a team of four TAs would log them.
    absences: list[dict] = []
    for n in range(count):
        at += timedelta(minutes=rng.randint(1, 30))
        kind = rng.random()
        if kind < 0.05:
            open_ = [a for a in absences if a["next"]]
            if not open_ or rng.random() < 0.4:
                first = (at + timedelta(days=rng.randint(10, 60))).date()
                absences.append(
                    {
                        "id": f"pto-{len(absences)}",
                        "ta": tas[len(absences) % len(tas)],
                        "start": first,
                        "end": first + timedelta(days=rng.randint(0, 9)),
                        "next": ["REQUESTED", "APPROVED"] + (["CANCELED"] if rng.random() < 0.2 else []),
                    }
                )
                open_ = [absences[-1]]
            absence = rng.choice(open_)
            body = copy.deepcopy(reviewed)
            resource = body["data"]["resource"]
            resource.update(
                id=absence["id"],
                status=absence["next"].pop(0),
                start_date=absence["start"].isoformat(),
                end_date=absence["end"].isoformat(),
                updated_at=at.isoformat(),
            )
            resource["requester"]["work_email"] = absence["ta"]
            lines.append({"at": at.isoformat(), "source": "deel", "payload": body})
        elif kind < 0.35:
            body = copy.deepcopy(ping)
            account = rng.choice(accounts)
            body["match"]["account"].update(
                id=account["vitally_id"], externalId=account["id"], healthScore=round(rng.uniform(0, 10), 1)
            )
            lines.append({"at": at.isoformat(), "source": "vitally", "payload": body})
        elif kind < 0.50:
            body = copy.deepcopy(cdc)
            account = rng.choice(accounts)
            body["payload"].update(
                AccountId=account["salesforce_id"],
                Type="Renewal",
                CloseDate=(at + timedelta(days=rng.randint(30, 400))).date().isoformat(),
            )
            body["payload"]["ChangeEventHeader"].update(
                commitTimestamp=int(at.timestamp() * 1000),
                transactionKey=f"tx-{n}",
                recordIds=[f"006B{n:06d}"],
            )
            lines.append({"at": at.isoformat(), "source": "salesforce", "payload": body})
        elif kind < 0.97:
            body = copy.deepcopy(mail)
            body.update(id=f"m{n}", threadId=f"t{n // 4}", internalDate=str(int(at.timestamp() * 1000)))
            lines.append({"at": at.isoformat(), "source": "gmail", "payload": body})
        else:
            lines.append({"at": at.isoformat(), "source": "tick", "payload": {"job": "outbox-relay"}})
    return [json.dumps(line) for line in lines]
