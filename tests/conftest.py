"""Fixtures every tier shares: the bundled policy and a small, valid book of business."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from shared.policy import Policy, load_policy

# Property tests check what holds, never how fast: a busy CI machine must not fail them
# on hypothesis's default 200 ms deadline per example (speed is measured in bench/).
settings.register_profile("taops", deadline=None)
settings.load_profile("taops")

EXAMPLE_BOOK = Path(__file__).resolve().parents[1] / "examples" / "book.json"


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def book_data() -> dict[str, Any]:
    return json.loads(EXAMPLE_BOOK.read_text())
