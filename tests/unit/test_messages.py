"""The words people read agree in number and article."""

from __future__ import annotations

import pytest

from shared.messages import in_days, listing, plural, render, with_article


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("AE", "an AE"),
        ("IE", "an IE"),
        ("CE", "a CE"),
        ("TA", "a TA"),
        ("TA_MANAGER", "a TA_MANAGER"),
        ("SLA", "an SLA"),
        ("account", "an account"),
        ("cover", "a cover"),
    ],
)
def test_the_article_follows_how_the_word_is_read(word: str, expected: str) -> None:
    assert with_article(word) == expected


def test_counts_agree_with_their_noun() -> None:
    assert [plural(n, "account") for n in (0, 1, 2)] == ["0 accounts", "1 account", "2 accounts"]
    assert plural(1, "person", "people") == "1 person" and plural(7, "person", "people") == "7 people"


def test_names_are_listed_as_a_sentence_lists_them() -> None:
    assert [listing(names) for names in ([], ["A"], ["A", "B"], ["A", "B", "C"])] == [
        "",
        "A",
        "A and B",
        "A, B and C",
    ]


def test_a_renewing_account_shows_its_renewal_once_to_its_cover() -> None:
    row = {
        "name": "Acme",
        "why": "renews 2027-01-20, inside the absence",
        "renewal": "2027-01-20",
        "codes": ["renewing"],
        "replaces": None,
    }
    other = {**row, "name": "Globex", "why": "health is red", "codes": ["lighthouse"]}
    text = render(
        "cover", ta_name="Ana", rows=[row, other], changes=[], first_day="2027-01-18", last_day="2027-01-22"
    )
    assert "- Acme: renews 2027-01-20, inside the absence\n" in text
    assert "- Globex: health is red; renews 2027-01-20" in text


@pytest.mark.parametrize(
    ("days", "said"),
    [(0, "today"), (1, "in 1 day"), (33, "in 33 days"), (-1, "1 day ago"), (-4, "4 days ago")],
)
def test_in_days_reads_like_a_sentence(days: int, said: str) -> None:
    assert in_days(days) == said
