"""The digest's rendering limits: Slack refuses a section block over 3,000 characters, so a
long section shows the rows that fit and says how many more the email has."""

from __future__ import annotations

from shared.cadences.digest_templates import SECTION_MAX, render


def health_row(n: int) -> dict[str, object]:
    return {
        "account": f"Account number {n:03d}",
        "old": "green",
        "new": "red",
        "day": "2026-12-09",
        "score": 3.1,
        "ta": None,
    }


def test_a_section_too_long_for_slack_shows_what_fits_and_the_email_has_every_row() -> None:
    rows = [health_row(n) for n in range(200)]
    rendered = render(
        "Monday digest", "For the team.", {"health": rows}, {"older": 0, "lookahead": 14}, "why"
    )
    [health] = [
        b["text"]["text"] for b in rendered.blocks if "Health category" in b.get("text", {}).get("text", "")
    ]
    assert len(health) <= SECTION_MAX
    shown = health.count("\n• ")
    assert 0 < shown < 200
    assert health.endswith(f"\n… and {200 - shown} more in the email version")
    assert all(f"- Account number {n:03d}: green → red" in rendered.text for n in range(200))


def test_a_short_section_is_shown_whole() -> None:
    rendered = render(
        "Monday digest", "For the team.", {"health": [health_row(1)]}, {"older": 0, "lookahead": 14}, "why"
    )
    [health] = [
        b["text"]["text"] for b in rendered.blocks if "Health category" in b.get("text", {}).get("text", "")
    ]
    assert (
        health
        == "*Health category changes, past week*\n• Account number 001: green → red on 2026-12-09 (score 3.1)"
    )
