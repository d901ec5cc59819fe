"""The README's main command: `taops demo` shows the reactions a TA manager expects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_demo_runs_offline_and_shows_each_reaction_and_why() -> None:
    exe = Path(sys.executable).with_name("taops")
    result = subprocess.run(
        [str(exe), "demo"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160", "HOME": "/tmp"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # the coverage plan, shared with the account team, with its reasons
    assert "Ana Ruiz logged time off 2026-12-14 to 2026-12-18 (requested)" in out
    assert "renews 2026-12-18, inside the absence" in out
    assert "→ vitally.task to ana@example.com" in out
    assert "→ slack.status to ana@example.com (not before 2026-12-14T23:00:00Z)" in out
    # the moved dates re-plan, the renewal that moved into the window joins it
    assert "Pied Piper: renewal date 2027-03-10 → 2026-12-16" in out
    assert "4 accounts need cover" in out
    assert "Ana Ruiz's time off moved from 2026-12-14–2026-12-18 to 2026-12-15–2026-12-21 (approved)" in out
    flat = " ".join(out.split())  # long lines wrap at the terminal's width
    assert "before you leave (replaces the task due 2026-12-11)" in flat  # the old dates' task
    # a cancellation withdraws, health changes are recorded, the mailbox thread is answered
    assert "plan withdrawn (cancelled)" in out
    assert "Globex: health green → red (score 3.3)" in out
    assert "the customer is answered" in out
    assert "✓ delivered (dry run): slack.status to ana@example.com" in out
    assert "plan pto-ana-dec (shared)" in out and "plan pto-carla-jan (withdrawn)" in out
    # account signals: a flap changes nothing, a red that holds enters Lighthouse, the plan
    # grows on the renewal event, a cover who takes time off is replaced, renewals start
    assert "Wonka: back to green within 2 hours: no reaction" in flat
    assert "Globex has been red since 2026-11-17 07:00 UTC: it enters the Lighthouse program" in flat
    moved = "Pied Piper's renewal moved from 2027-03-10 to 2026-12-16"
    assert f"Ana Ruiz's coverage plan changed: {moved}" in flat
    assert "Ben Cho covers Acme and Hooli in place of Carla Mendes" in flat
    assert "Pied Piper renews on 2026-12-16, in 33 days: its renewal process starts" in flat
    assert "entered Lighthouse" in out and "globex (2026-11-17)" in out
    # cadences: MBR reminders with each TA's Top 3, the QBRs of the quarter's first week,
    # trait tasks, stale accounts, and the Monday digests
    assert "Ana Ruiz: MBR of 2026-12 (week of 2026-12-14), Top 3 rekall, pied-piper, acme" in flat
    assert "qbr-reminder: due 3, applied 3" in flat
    assert "Acme: last contact 2026-10-01, reminder to ana@example.com" in flat
    assert "weekly-digest: due 4, applied 4" in flat
    labels = ("MBR reminders", "QBR reminders", "health-trait tasks", "contact reminders", "Monday digests")
    assert all(label in out for label in labels)
    # Scaled Success: an account crossing 90% then 100%, call offers, recaps, an account
    # marked do-not-contact left alone, and an email a manager cancelled before it went
    assert "Gekko: seats 815 of 900 (90.6%) reached 90%" in flat
    assert "Gekko: seats 900 of 900 (100%) reached 100%" in flat
    assert "call-offer: due 13, applied 13" in flat
    assert "Prestige is marked do_not_contact: the usage recap is not sent" in flat
    assert "(Virtucon: your usage recap for November 2026) cancelled by mara@example.com" in flat
    assert "call offers" in out and "usage recaps" in out and "seat alerts (AE and TA)" in out
