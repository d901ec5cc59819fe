from __future__ import annotations

from datetime import UTC, datetime

from shared import clock


def test_taops_clock_fixes_the_time(monkeypatch) -> None:
    monkeypatch.setenv("TAOPS_CLOCK", "2026-12-14T08:30:00Z")
    assert clock.now() == datetime(2026, 12, 14, 8, 30, tzinfo=UTC)
    monkeypatch.setenv("TAOPS_CLOCK", "2026-12-14T08:30:00")
    assert clock.now().tzinfo is UTC


def test_without_it_the_clock_is_real_and_utc(monkeypatch) -> None:
    monkeypatch.delenv("TAOPS_CLOCK", raising=False)
    before = datetime.now(UTC)
    assert before <= clock.now() <= datetime.now(UTC)
