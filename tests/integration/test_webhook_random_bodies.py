"""Random invalid bodies at volume, through the functions framework and the Pub/Sub
emulator: every webhook answers each with a 4xx (or 200 for a well-formed change of
something taops does not use), publishes nothing (the next good event
is the first on its topic) and writes nothing but dead letters. Bodies come signed (so
they reach the parser and the normalizer) and unsigned, as bytes, as JSON of any shape,
and as JSON shaped like the vendor's own with random values."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import clients
from shared.processing import DEAD_LETTERS
from tests.integration.test_hardening_webhooks import ENTRY_POINTS, SENTINELS, authenticated

EXAMPLES = 300  # per webhook and kind; bounded so the tier stays minutes, not hours

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)


def shaped_like(source: str) -> st.SearchStrategy[bytes]:
    """The vendor's own top-level keys (and the next level's), each holding a random value."""
    sample = json.loads(SENTINELS[source])

    def fill(value: Any) -> st.SearchStrategy[Any]:
        if isinstance(value, dict):
            return st.fixed_dictionaries({}, optional={k: JSON for k in value})
        return JSON

    top = st.fixed_dictionaries({}, optional={k: fill(v) for k, v in sample.items()})
    return top.map(lambda body: json.dumps(body).encode())


def bodies(source: str) -> st.SearchStrategy[bytes]:
    dumped = JSON.map(lambda value: json.dumps(value).encode())
    return st.one_of(st.binary(max_size=2048), dumped, shaped_like(source))


@pytest.mark.parametrize("source", list(ENTRY_POINTS))
def test_random_bodies_are_4xx_publish_nothing_and_write_only_dead_letters(
    webhook, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    monkeypatch.setenv("TAOPS_CLOCK", "2025-06-01T12:00:00+00:00")
    client, probe = webhook(*ENTRY_POINTS[source])
    answered: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(body=bodies(source), signed=st.booleans())
    def post(body: bytes, signed: bool) -> None:
        path, headers = authenticated(source, body) if signed else ("/", {"content-type": "application/json"})
        response = client.post(path, data=body, headers=headers)
        answer = response.get_json(silent=True) or {}
        # A well-formed change of something taops does not use (a CDC header naming no
        # Opportunity) is not bad input: 200, ignored, published nowhere.
        ignored = response.status_code == 200 and answer == {"ignored": True}
        assert 400 <= response.status_code < 500 or ignored, (response.status_code, str(answer)[:300])
        assert "event_ids" not in answer
        answered.append(response.status_code)

    post()

    assert len(answered) >= EXAMPLES
    written = clients.store().dump()  # type: ignore[attr-defined]
    assert set(written) <= {DEAD_LETTERS}
    assert len(written.get(DEAD_LETTERS, {})) >= 1
    # nothing was published: the next good event is the first to arrive on the topic
    path, headers = authenticated(source, SENTINELS[source])
    [sentinel] = client.post(path, data=SENTINELS[source], headers=headers).get_json()["event_ids"]
    assert [e.event_id for e in probe.drain_until(sentinel)] == [sentinel]
