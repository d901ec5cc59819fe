"""A generated scenario for the benchmarks: many vendor-shaped events over the demo book.

``python bench/scenario.py OUT.jsonl [COUNT] [--hourly-ticks]`` writes it as a replay file,
so two versions of the engine can replay the very same bytes.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "tests" / "events"
BOOK = ROOT / "shared" / "demo" / "book.json"
START = datetime(2026, 1, 5, tzinfo=UTC)


def bench_context(policy: Any) -> Any:
    """The demo book on a fresh embedded store, wired as deployed: actions published after
    each commit, to a publisher that only numbers them (nothing leaves the process)."""
    from shared.book import import_book, parse_book
    from shared.bootstrap import Context
    from shared.store import EmbeddedStore

    store = EmbeddedStore()
    import_book(store, parse_book(json.loads(BOOK.read_text())), policy)
    return Context(
        store=store,
        policy=policy,
        publisher=lambda data, attributes: f"bench:{attributes['action_id']}",
        function="bench",
    )


def _load(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def generate(
    count: int, seed: int = 7, *, hourly_ticks: bool = False, answered: float | None = None
) -> list[str]:
    """``count`` replay lines in time order: PTO lifecycles, health pings, renewals, mail, ticks.

    With ``hourly_ticks``, an ``sla-check`` tick line on every hour of the span is merged in
    as well (after the lines of the same moment), so the SLA timers the mail starts fire;
    the ``count`` lines themselves are the same either way.

    By default the mail is all from one customer whom no account knows, and nobody on the
    team answers: every thread waits and climbs the whole ladder (the stress case). With
    ``answered`` (a share, e.g. 0.9), the mailbox is a team's: champions of the book's
    accounts open threads and their TAs answer that share of them, the rest never (its own
    random stream: every other line stays the same).
    """
    rng = random.Random(seed)
    mailbox = random.Random(seed + 1)
    thread_state: dict[str, Any] = {}
    book = json.loads(BOOK.read_text())
    tas = [p["email"] for p in book["people"] if p["role"] == "TA"]
    accounts = book["accounts"]
    people = {p["email"]: p for p in book["people"]}
    reviewed, ping, cdc, mail = (
        _load(n)
        for n in (
            "deel_time_off_reviewed_approved.json",
            "vitally_playbook_webhook_UNCONFIRMED.json",
            "salesforce_cdc_opportunity_update_cometd.json",
            "gmail_message_get_metadata_response.json",
        )
    )
    at = START
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
            thread = f"t{n // 4}"
            body.update(id=f"m{n}", threadId=thread, internalDate=str(int(at.timestamp() * 1000)))
            if answered is not None:
                _team_mailbox(body, n, thread_state, accounts, people, mailbox, answered)
            lines.append({"at": at.isoformat(), "source": "gmail", "payload": body})
        else:
            lines.append({"at": at.isoformat(), "source": "tick", "payload": {"job": "outbox-relay"}})
    if hourly_ticks and lines:
        lines = _with_hourly_ticks(lines, START, at)
    return [json.dumps(line) for line in lines]


def _team_mailbox(
    body: dict,
    n: int,
    state: dict[str, Any],
    accounts: list[dict],
    people: dict[str, dict],
    rng: random.Random,
    answered: float,
) -> None:
    """A message of a team's mailbox: half the time the account's TA answers the oldest
    thread still owed a reply, else a champion of one of the book's accounts opens a new
    thread, which the team will answer with probability ``answered`` (never otherwise)."""
    owed: list[tuple[str, dict]] = state.setdefault("owed", [])
    if owed and rng.random() < 0.5:
        thread, account = owed.pop(0)
        ta = people[account["ta"]]
        sender = f"{ta['name']} <{ta['email']}>"
    else:
        thread = f"t{n}"
        account = rng.choice([a for a in accounts if a.get("champions") and a.get("ta")])
        sender = f"Champion <{account['champions'][0]}>"
        if rng.random() < answered:
            owed.append((thread, account))
    body["threadId"] = thread
    body["payload"]["headers"][0] = {"name": "From", "value": sender}


def _with_hourly_ticks(lines: list[dict], start: datetime, end: datetime) -> list[dict]:
    """``lines`` with an ``sla-check`` tick on each whole hour from ``start`` to ``end``."""
    merged: list[dict] = []
    hour = start
    for line in lines:
        while hour < datetime.fromisoformat(line["at"]):
            merged.append({"at": hour.isoformat(), "source": "tick", "payload": {"job": "sla-check"}})
            hour += timedelta(hours=1)
        merged.append(line)
    while hour <= end:
        merged.append({"at": hour.isoformat(), "source": "tick", "payload": {"job": "sla-check"}})
        hour += timedelta(hours=1)
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(description="write the generated scenario as a replay file")
    parser.add_argument("out", type=Path, metavar="OUT.jsonl")
    parser.add_argument("count", type=int, nargs="?", default=10_000)
    parser.add_argument("--hourly-ticks", action="store_true", help="an sla-check tick every hour")
    parser.add_argument(
        "--answered",
        type=float,
        metavar="SHARE",
        help="a team's mailbox: champions write, their TA answers this share of later messages",
    )
    args = parser.parse_args()
    lines = generate(args.count, hourly_ticks=args.hourly_ticks, answered=args.answered)
    args.out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    ticks = len(lines) - args.count
    print(f"{args.out}: {len(lines):,} lines ({args.count:,} events, {ticks:,} hourly sla-check ticks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
