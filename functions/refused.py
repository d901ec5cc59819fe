"""``keep_refused``: ``refused-input`` → the ``dead_letters`` collection.

The webhooks publish each refusal's document here instead of writing Firestore, which
they may not (``shared.refused``). This function's account may write Firestore and do
nothing else: no secret, no topic. A message that is not a refusal document is bad input
like any other (kept by ``shared.faults``); a Firestore fault is raised and retried.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functions.consumers import Push, receive
from shared import refused
from shared.bootstrap import Context
from shared.processing import DEAD_LETTERS
from shared.store.base import Document


def keep_refused(cloud_event: Any, now: datetime | None = None) -> dict[str, Any] | None:
    def parse(push: Push, ctx: Context, at: datetime) -> tuple[str, Document]:
        return refused.parse(push.data)

    def act(ctx: Context, kept: tuple[str, Document], at: datetime) -> dict[str, Any]:
        doc_id, doc = kept
        ctx.store.put(DEAD_LETTERS, doc_id, doc)
        return {"dead_letter": doc_id, "source": doc.get("source"), "refused_by": doc.get("function")}

    return receive(cloud_event, function="keep_refused", source="refused", parse=parse, act=act, now=now)
