"""``salesforce_webhook``: Opportunity changes (Outbound Messages or CDC via a relay) →
``renewal-changed``. An Outbound Message is acknowledged only after every notification in
it is published; until then Salesforce keeps retrying (for up to 24 hours). Its
notifications are published together, in batches (``shared.pubsub.publish_many``); a
message with more than the policy's ``renewal.max_records_per_message`` is refused whole.

The token: a CDC relay (or a Flow HTTP Callout) sets headers, so it should send
``x-taops-token`` (a token in its URL is accepted and logged as a warning). An Outbound
Message cannot: Salesforce posts it to the endpoint URL as configured, with no header of
ours, so for it the token travels in the URL (``?token=``), over HTTPS, next to the org id
check.
"""

from __future__ import annotations

import os
from typing import Any
from xml.etree.ElementTree import Element

import flask

from functions.webhooks import Webhook, handle, parse_json
from shared.logs import log
from shared.sources import salesforce as sf

ORG_HEADER = "x-salesforce-org-id"  # set by a CDC relay; an Outbound Message carries its own


def _authenticate(request: flask.Request, raw: bytes) -> bool:
    from shared.sources.vitally import token_matches

    given = request.headers.get("x-taops-token")
    if given is None:
        given = request.args.get("token")
        if given is not None and not sf.is_xml(raw):
            # Accepted, but a relay can set a header: the URL ends up in access logs.
            log("WARNING", "token sent in the URL by a sender that can set x-taops-token")
    return token_matches(given, os.environ.get("TAOPS_SALESFORCE_TOKEN"))


def _parse(raw: bytes) -> Any:
    return sf.parse_outbound_message(raw) if sf.is_xml(raw) else parse_json(raw)


def _authorize(body: Any, request: flask.Request) -> str | None:
    allowed = os.environ.get("TAOPS_SALESFORCE_ORG_IDS", "").split(",")
    org = sf.outbound_org_id(body) if isinstance(body, Element) else request.headers.get(ORG_HEADER, "")
    if not org:
        return "organization id missing"
    if not sf.same_org(org, allowed):
        return f"organization {org} is not allowed"
    return None


def _normalize(body: Any, now: Any) -> list[Any]:
    from shared.exceptions import PermanentError
    from shared.policy import load_policy

    limit = load_policy().renewal.max_records_per_message
    if isinstance(body, Element):
        # Counted before any is read: a message over the limit costs no normalising.
        count = len(body.findall(f"{{{sf.OM_NS}}}Notification"))
        if count > limit:
            raise PermanentError(
                f"Outbound Message: {count} notifications, over the limit of {limit}"
                " (policy renewal.max_records_per_message)"
            )
        return sf.normalize_outbound_message(body, now)
    events = sf.normalize_cdc(body, now)
    if len(events) > limit:
        raise PermanentError(
            f"CDC event: {len(events)} records, over the limit of {limit}"
            " (policy renewal.max_records_per_message)"
        )
    return events


def _respond(body: Any, events: list[Any]) -> flask.Response | None:
    # Salesforce retries an Outbound Message until it reads this Ack; a relay gets JSON.
    if isinstance(body, Element):
        return flask.Response(sf.ACK, status=200, mimetype="text/xml")
    return None


SALESFORCE = Webhook(
    function="salesforce_webhook",
    source="salesforce",
    topic=sf.RENEWAL_TOPIC,
    authenticate=_authenticate,
    parse=_parse,
    normalize=_normalize,
    authorize=_authorize,
    respond=_respond,
    unauthenticated="missing or invalid token",
)


def salesforce_webhook(request: flask.Request) -> flask.Response:
    return handle(SALESFORCE, request)
