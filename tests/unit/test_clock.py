from __future__ import annotations

from datetime import UTC, datetime

import pytest

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


def test_a_clock_file_fixes_the_time_and_is_read_again_on_every_call(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TAOPS_CLOCK", raising=False)
    path = tmp_path / "clock"
    monkeypatch.setenv("TAOPS_CLOCK_FILE", str(path))
    path.write_text("2026-12-01T10:00:00Z\n")
    assert clock.now() == datetime(2026, 12, 1, 10, tzinfo=UTC)
    path.write_text("2026-12-03T10:30:00+01:00")
    assert clock.now() == datetime(2026, 12, 3, 9, 30, tzinfo=UTC)


def test_taops_clock_wins_over_the_clock_file(monkeypatch, tmp_path) -> None:
    path = tmp_path / "clock"
    path.write_text("2026-12-01T10:00:00Z")
    monkeypatch.setenv("TAOPS_CLOCK_FILE", str(path))
    monkeypatch.setenv("TAOPS_CLOCK", "2026-12-14T08:30:00Z")
    assert clock.now() == datetime(2026, 12, 14, 8, 30, tzinfo=UTC)


def test_a_missing_or_empty_clock_file_means_the_real_time(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TAOPS_CLOCK", raising=False)
    path = tmp_path / "clock"
    monkeypatch.setenv("TAOPS_CLOCK_FILE", str(path))
    for content in (None, "", "  \n"):
        if content is not None:
            path.write_text(content)
        before = datetime.now(UTC)
        assert before <= clock.now() <= datetime.now(UTC)


def test_a_clock_file_instant_without_a_zone_is_utc(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TAOPS_CLOCK", raising=False)
    path = tmp_path / "clock"
    path.write_text("2026-12-01T10:00:00")
    monkeypatch.setenv("TAOPS_CLOCK_FILE", str(path))
    assert clock.now() == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_a_clock_file_holding_anything_else_is_an_error_naming_the_file(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TAOPS_CLOCK", raising=False)
    path = tmp_path / "clock"
    path.write_text("next tuesday")
    monkeypatch.setenv("TAOPS_CLOCK_FILE", str(path))
    with pytest.raises(ValueError, match=r"TAOPS_CLOCK_FILE .*clock: 'next tuesday' is not an ISO-8601"):
        clock.now()


def test_write_file_moves_every_reader_and_none_returns_them_to_the_real_time(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TAOPS_CLOCK", raising=False)
    path = tmp_path / "state" / "clock"
    monkeypatch.setenv("TAOPS_CLOCK_FILE", str(path))
    clock.write_file(path, datetime(2026, 12, 4, 15, 30, tzinfo=UTC))
    assert clock.now() == datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    assert clock.read_file(path) == datetime(2026, 12, 4, 15, 30, tzinfo=UTC)
    assert [p.name for p in path.parent.iterdir()] == ["clock"]  # no temporary left behind
    clock.write_file(path, None)
    assert not path.exists()
    assert clock.read_file(path) is None
    clock.write_file(path, None)  # clearing twice is fine
