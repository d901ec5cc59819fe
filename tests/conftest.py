"""Fixtures every tier shares: the bundled policy and a small, valid book of business."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.policy import Policy, load_policy

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def policy() -> Policy:
    return load_policy()


@pytest.fixture
def book_data() -> dict[str, Any]:
    return json.loads((FIXTURES / "book.json").read_text())
