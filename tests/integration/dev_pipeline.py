"""A `taops dev` pipeline started inside the test process, on its own emulators and free
ports on 127.0.0.1, with a temporary state folder; stopped, and the environment it set
restored, when the test ends."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.dev.pipeline import DevPipeline

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "shared" / "demo" / "book.json"


def demo_book() -> dict[str, Any]:
    return json.loads(BOOK.read_text(encoding="utf-8"))


@contextmanager
def running(state_dir: Path) -> Iterator[DevPipeline]:
    from shared import clients, dev, pubsub

    saved = dict(os.environ)
    pipeline = dev.start(BOOK, say=lambda _: None, state_dir=state_dir)
    try:
        yield pipeline
    finally:
        pipeline.stop()
        os.environ.clear()
        os.environ.update(saved)
        clients.reset()
        pubsub.reset_clients()
