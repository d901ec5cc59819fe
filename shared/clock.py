"""The one place entry points read the time.

``TAOPS_CLOCK`` (an ISO-8601 instant) fixes it: replays and tests run at a chosen moment.
Rules never read the clock: ``now`` is passed to them.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime


def now() -> datetime:
    fixed = os.environ.get("TAOPS_CLOCK")
    if fixed:
        moment = datetime.fromisoformat(fixed)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)
