"""Cloud Functions entry points (design §3): the names terraform deploys.

HTTP: ``deel_webhook``, ``salesforce_webhook``, ``vitally_webhook``, ``dashboard`` (the
operations view, design §7). CloudEvent (Pub/Sub):
``on_pto_logged``, ``on_renewal_changed``, ``on_health_changed``, ``on_group_mail``,
``on_cadence_tick``, ``deliver_action``, and ``keep_refused`` (what the webhooks refused,
kept in ``dead_letters``: the webhooks themselves may not write the database).
Each is a line that hands the request to its module in ``functions/``.

Importing this module connects to nothing and loads no handler code: each function's
module is imported on its first call, so a deployed function loads only its own code
(``bench/cold_start.py`` measures what the import costs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import functions_framework

if TYPE_CHECKING:
    import flask
    from cloudevents.http import CloudEvent


@functions_framework.http
def deel_webhook(request: flask.Request) -> flask.Response:
    """Deel time-off webhooks → ``pto-logged``."""
    from functions.deel import deel_webhook as handle

    return handle(request)


@functions_framework.http
def salesforce_webhook(request: flask.Request) -> flask.Response:
    """Salesforce Opportunity changes (Outbound Messages or CDC) → ``renewal-changed``."""
    from functions.salesforce import salesforce_webhook as handle

    return handle(request)


@functions_framework.http
def vitally_webhook(request: flask.Request) -> flask.Response:
    """Vitally playbook pings → ``health-changed``."""
    from functions.vitally import vitally_webhook as handle

    return handle(request)


@functions_framework.http
def dashboard(request: flask.Request) -> flask.Response:
    """The operations view: the mailbox board, who is out, accounts, the outbox."""
    from functions.dashboard import dashboard as handle

    return handle(request)


@functions_framework.cloud_event
def on_pto_logged(cloud_event: CloudEvent) -> None:
    """``pto-logged`` → the absence, and for a TA the coverage plan and its actions (outbox)."""
    from functions.consumers import on_pto_logged as handle

    handle(cloud_event)


@functions_framework.cloud_event
def on_renewal_changed(cloud_event: CloudEvent) -> None:
    """``renewal-changed`` → the account's renewal date, stage, amount and expansion kept current."""
    from functions.consumers import on_renewal_changed as handle

    handle(cloud_event)


@functions_framework.cloud_event
def on_health_changed(cloud_event: CloudEvent) -> None:
    """``health-changed`` → score and category kept current; each category change recorded."""
    from functions.consumers import on_health_changed as handle

    handle(cloud_event)


@functions_framework.cloud_event
def on_group_mail(cloud_event: CloudEvent) -> None:
    """``gmail-push`` → the pooled mailbox's threads and who owes a reply."""
    from functions.gmail import on_group_mail as handle

    handle(cloud_event)


@functions_framework.cloud_event
def on_cadence_tick(cloud_event: CloudEvent) -> None:
    """``cadence-tick`` → the scheduled job named in the tick."""
    from functions.ticks import on_cadence_tick as handle

    handle(cloud_event)


@functions_framework.cloud_event
def deliver_action(cloud_event: CloudEvent) -> None:
    """``actions`` → one action carried out (Slack, Gmail, Vitally), at most once."""
    from functions.delivery import deliver_action as handle

    handle(cloud_event)


@functions_framework.cloud_event
def keep_refused(cloud_event: CloudEvent) -> None:
    """``refused-input`` → a webhook's refused input kept in ``dead_letters``."""
    from functions.refused import keep_refused as handle

    handle(cloud_event)
