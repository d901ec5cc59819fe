"""Issue 12's "done when", on the emulators: ten weeks of daily Cloud Scheduler ticks of
every cadence job (one of them fired twice on the 1st of each month), pushed through
on_cadence_tick with delivery running, give each TA one MBR reminder a month, each AE one
QBR reminder a quarter, one trait task per managed account a month, one reminder per
stale account and period, and one digest per TA per Monday: the same outbox as the
replay of the same lines."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from shared import clients
from shared.book import parse_book
from shared.processing import OUTBOX
from shared.replay import replay
from tests.gmail_messages import line
from tests.integration.deployed import outbox_view

JOBS = ("health-traits", "mbr-reminder", "qbr-reminder", "contact-check", "weekly-digest")
CADENCES = ("health-traits", "mbr", "qbr", "contact", "digest")


def ten_weeks() -> list[str]:
    lines = []
    day = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    for _ in range(70):
        for n, job in enumerate(JOBS):
            lines.append(line(day + timedelta(seconds=n), "tick", {"job": job}))
            if day.day == 1:
                lines.append(line(day + timedelta(seconds=30 + n), "tick", {"job": job}))
        lines.append(line(day + timedelta(hours=9), "tick", {"job": "outbox-relay"}))
        day += timedelta(days=1)
    return sorted(lines, key=lambda text: json.loads(text)["at"])


def test_ten_weeks_of_daily_ticks_give_each_reaction_once_per_period(deployed, book_data, policy) -> None:
    lines = ten_weeks()
    replayed = replay(lines, parse_book(book_data), policy)
    deployed.run(lines)
    live = clients.store().dump()[OUTBOX]

    reactions = [d for d in live.values() if d.get("cadence") in CADENCES]
    # Each key once (a key names the reaction: its subject, period and recipient).
    keys = Counter(d["idempotency_key"] for d in reactions)
    assert max(keys.values()) == 1
    periods = sorted({(d["cadence"], d["period"]) for d in reactions})
    assert ("mbr", "2026-12") in periods and ("mbr", "2027-01") in periods and ("mbr", "2027-02") in periods
    mbr = Counter((d["meant_for"][0], d["period"]) for d in reactions if d["cadence"] == "mbr")
    assert set(mbr.values()) == {1} and {ta for ta, _ in mbr} == {"ana@example.com", "ben@example.com"}
    traits = Counter((d["account_id"], d["period"]) for d in reactions if d["cadence"] == "health-traits")
    assert sorted(traits) == [
        (account, month)
        for account in ("acme", "globex", "initech")
        for month in ("2026-12", "2027-01", "2027-02")
    ]
    qbr = {(d["idempotency_key"].split(":")[1], d["period"]) for d in reactions if d["cadence"] == "qbr"}
    assert qbr == {("alex@example.com", "FY2028-Q1")}
    # Tuesday 1 December catches up its week's digest; then each Monday to 8 February.
    weeks = Counter(d["period"] for d in reactions if d["cadence"] == "digest")
    assert sorted(weeks) == ["2026-W49", "2026-W50", "2026-W51", "2026-W52", "2026-W53"] + [
        f"2027-W{n:02d}" for n in range(1, 7)
    ]
    assert set(weeks.values()) == {2}  # one per TA
    assert outbox_view(live) == outbox_view(replayed.state[OUTBOX])
