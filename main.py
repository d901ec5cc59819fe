"""Cloud Functions entry points (design §3): the names terraform deploys.

HTTP: ``deel_webhook``, ``salesforce_webhook``, ``vitally_webhook``. CloudEvent (Pub/Sub):
``on_pto_logged``, ``on_renewal_changed``, ``on_health_changed``, ``on_group_mail``,
``on_cadence_tick``, ``deliver_action``. Each arrives with the issue that builds its
reaction; every one is a few lines that parse the envelope, call ``shared.processing``
and map the outcome to acknowledge or retry.

Importing this module connects to nothing: Firestore, Pub/Sub and HTTP clients are built
on first use (``bench/cold_start.py`` measures what the import costs).
"""

from __future__ import annotations

import flask
import functions_framework
from cloudevents.http import CloudEvent

from functions import consumers, deel, gmail, salesforce, vitally


@functions_framework.http
def deel_webhook(request: flask.Request) -> flask.Response:
    """Deel time-off webhooks → ``pto-logged``."""
    return deel.deel_webhook(request)


@functions_framework.http
def salesforce_webhook(request: flask.Request) -> flask.Response:
    """Salesforce Opportunity changes (Outbound Messages or CDC) → ``renewal-changed``."""
    return salesforce.salesforce_webhook(request)


@functions_framework.http
def vitally_webhook(request: flask.Request) -> flask.Response:
    """Vitally playbook pings → ``health-changed``."""
    return vitally.vitally_webhook(request)


@functions_framework.cloud_event
def on_renewal_changed(cloud_event: CloudEvent) -> None:
    """``renewal-changed`` → the account's renewal date, stage, amount and expansion kept current."""
    consumers.on_renewal_changed(cloud_event)


@functions_framework.cloud_event
def on_health_changed(cloud_event: CloudEvent) -> None:
    """``health-changed`` → score and category kept current; each category change recorded."""
    consumers.on_health_changed(cloud_event)


@functions_framework.cloud_event
def on_group_mail(cloud_event: CloudEvent) -> None:
    """``gmail-push`` → the pooled mailbox's threads and who owes a reply."""
    gmail.on_group_mail(cloud_event)
