"""Vitally's account listing as its REST API answers it (``../shared/vendors/README.md``
§2): ``GET /resources/accounts?limit=&from=`` with Basic auth, each page
``{"results": [account, ...], "next": cursor | null}``, each account in the shape of
``tests/events/vitally_account_object.json``. ``VitallyAccountsApi`` serves pages by cursor on a
respx router and can be told to fail a cursor first (429 with Retry-After, 5xx)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import respx

EVENTS = Path(__file__).resolve().parent / "events"
BASE = "https://acme.rest.vitally.io"
KEY = "secret_key"
ACCOUNT = json.loads((EVENTS / "vitally_account_object.json").read_text())
LISTED = json.loads((EVENTS / "vitally_accounts_list_response.json").read_text())
UNKNOWN_ID = LISTED["results"][0]["id"]  # Globex Corporation: in Vitally, not in the example book


def account(
    vitally_id: str,
    name: str,
    *,
    external_id: str | None = None,
    score: float | None = None,
    updated: str = "2026-11-22T08:00:00.000Z",
    traits: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Vitally account object; the vendor sample's own activity timestamps are cleared
    (null: not there) unless given."""
    body = copy.deepcopy(ACCOUNT)
    body.update(
        id=vitally_id,
        externalId=external_id,
        name=name,
        healthScore=score,
        updatedAt=updated,
        lastOutboundMessageTimestamp=None,
        lastInboundMessageTimestamp=None,
        traits={**ACCOUNT["traits"], **(traits or {})},
    )
    body.update(fields)
    return body


def page(results: list[dict[str, Any]], following: str | None) -> dict[str, Any]:
    return {"results": results, "next": following}


def example_pages() -> dict[str | None, dict[str, Any]]:
    """Two pages over the example book: Acme changed (score, seats, tickets, a version; an
    older last contact), Globex as the book has it, Initech by externalId with its seats
    trait missing, and an account the book does not know."""
    acme = account(
        "vit-acme",
        "Acme Corp",
        external_id="acme",
        score=3.2,
        traits={"seats_used": 11800, "seats_licensed": 12000, "open_tickets": 0, "deployed_version": "5.2.0"},
        lastOutboundMessageTimestamp="2026-10-30T09:00:00.000Z",
    )
    globex = account("vit-globex", "Globex", score=3.2, traits={"seats_used": 2400, "seats_licensed": 2500})
    initech = account(
        "vit-initech",
        "Initech",
        external_id="initech",
        score=6.5,
        traits={"versions_behind": 3},
        lastOutboundMessageTimestamp="2026-11-20T12:00:00.000Z",
    )
    stranger = {**LISTED["results"][0], "updatedAt": "2026-11-21T00:00:00.000Z"}
    return {None: page([acme, globex], "cur-2"), "cur-2": page([initech, stranger], None)}


class VitallyAccountsApi:
    """``GET /resources/accounts`` on a respx router: ``pages`` by their ``from`` cursor;
    ``fail[cursor]`` is a list of responses given (and used up) before that page."""

    def __init__(
        self,
        router: respx.MockRouter,
        pages: dict[str | None, dict[str, Any]],
        fail: dict[str | None, list[httpx.Response]] | None = None,
    ) -> None:
        self.pages = pages
        self.fail = fail or {}
        self.asked: list[str | None] = []
        self.route = router.get(f"{BASE}/resources/accounts").mock(side_effect=self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Basic c2VjcmV0X2tleTo="  # the key, empty password
        assert request.url.params["limit"] == "100"
        cursor = request.url.params.get("from")
        self.asked.append(cursor)
        waiting = self.fail.get(cursor)
        if waiting:
            return waiting.pop(0)
        if cursor not in self.pages:
            return httpx.Response(400, json={"error": "invalid cursor"})
        return httpx.Response(
            200,
            json=self.pages[cursor],
            headers={"RateLimit-Limit": "1000, 1000;window=60", "RateLimit-Remaining": "998"},
        )


def rate_limited(seconds: str) -> httpx.Response:
    return httpx.Response(429, headers={"Retry-After": seconds, "RateLimit-Reset": seconds})
