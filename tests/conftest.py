"""Fixtures every tier shares: the bundled policy and a small, valid book of business."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.policy import Policy, load_policy

EXAMPLE_BOOK = Path(__file__).resolve().parents[1] / "examples" / "book.json"


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def book_data() -> dict[str, Any]:
    return json.loads(EXAMPLE_BOOK.read_text())
