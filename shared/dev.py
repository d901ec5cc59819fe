"""``taops dev``: the real pipeline on one machine.

Starts the Firestore and Pub/Sub emulators, serves every entry point of ``main.py`` with
functions-framework, creates each topic with its dead-letter topic and a push
subscription to the function that consumes it, imports a book, and prints ready-to-paste
``curl`` lines that post the bundled vendor payloads with valid signatures. Delivery runs
in dry-run mode: nothing reaches Slack, Gmail or Vitally. Ctrl-C stops everything it
started.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from shared.localrun import Service, StartError, emulator, function_server, missing_tools

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "taops-local"
HTTP = ("deel_webhook", "salesforce_webhook", "vitally_webhook")
# Topic → the function its push subscription feeds.
PUSH = {
    "pto-logged": "on_pto_logged",
    "renewal-changed": "on_renewal_changed",
    "health-changed": "on_health_changed",
    "gmail-push": "on_group_mail",
    "cadence-tick": "on_cadence_tick",
    "actions": "deliver_action",
}
DEV_SECRETS = {
    "TAOPS_DEEL_SIGNING_KEY": "dev-deel-signing-key",
    "TAOPS_SALESFORCE_TOKEN": "dev-salesforce-token",
    "TAOPS_SALESFORCE_ORG_IDS": "00D5e000000KQ2eEAG",
    "TAOPS_VITALLY_TOKEN": "dev-vitally-token",
}


@dataclass
class DevPipeline:
    services: list[Service] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def start(book: Path, say: Callable[[str], None] = print) -> DevPipeline:
    """Start everything; on any failure stop what was started and raise ``StartError``."""
    reason = missing_tools()
    if reason:
        raise StartError(reason)
    pipeline = DevPipeline()
    try:
        firestore, pubsub_emu = emulator("firestore", PROJECT), emulator("pubsub", PROJECT)
        pipeline.services += [firestore, pubsub_emu]
        for service in (firestore, pubsub_emu):
            service.wait_ready()
            say(f"{service.name} emulator on {service.host}")
        pipeline.env = {
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "FIRESTORE_EMULATOR_HOST": firestore.host,
            "PUBSUB_EMULATOR_HOST": pubsub_emu.host,
            "TAOPS_STORE": f"firestore:{PROJECT}",
            "TAOPS_DELIVERY": "dry-run",
            **{k: os.environ.get(k, v) for k, v in DEV_SECRETS.items()},
        }
        os.environ.update(pipeline.env)
        _import(book, say)
        servers = {t: function_server(t, "http", pipeline.env, ROOT / "main.py") for t in HTTP}
        servers |= {
            t: function_server(t, "cloudevent", pipeline.env, ROOT / "main.py") for t in PUSH.values()
        }
        pipeline.services += list(servers.values())
        for target, server in servers.items():
            # Any HTTP answer means the server is up (a GET is refused by design).
            server.wait_ready(ok_statuses=(200, 400, 405, 500))
            pipeline.urls[target] = f"http://{server.host}/"
        _wire_topics(pipeline.urls)
        say("topics, dead-letter topics and push subscriptions created")
        return pipeline
    except BaseException:
        pipeline.stop()
        raise


def _import(book: Path, say: Callable[[str], None]) -> None:
    from shared import clients
    from shared.book import import_book, load_book
    from shared.policy import load_policy

    clients.reset()
    people, accounts = import_book(clients.store(), load_book(book), load_policy())
    say(f"imported {people} people and {accounts} accounts from {book}")


def _wire_topics(urls: dict[str, str]) -> None:
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    from shared import pubsub

    pubsub.reset_clients()
    pubsub.ensure_topics(PROJECT)
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for topic, target in PUSH.items():
            path = subscriber.subscription_path(PROJECT, f"{topic}-to-{target}")
            with_push: dict[str, Any] = {"push_endpoint": urls[target]}
            with contextlib.suppress(AlreadyExists):  # a restart reuses what exists
                subscriber.create_subscription(
                    request={
                        "name": path,
                        "topic": pubsub.topic_path(topic, PROJECT),
                        "push_config": with_push,
                        "ack_deadline_seconds": 60,
                    }
                )
    finally:
        subscriber.close()


def curl_lines(urls: dict[str, str], env: dict[str, str]) -> list[str]:
    """Ready-to-paste commands posting the bundled vendor payloads, correctly signed."""
    from shared.sources import deel

    events = ROOT / "tests" / "events"
    lines = []
    for name in ("deel_time_off_created.json", "deel_time_off_reviewed_approved.json"):
        # A TA of the bundled book, so the approval produces a coverage plan.
        template = json.loads((events / name).read_text(encoding="utf-8"))
        body = deel_body(
            template,
            email="ana@example.com",
            name="Ana Ruiz",
            start=date(2026, 12, 14),
            end=date(2026, 12, 18),
        )
        signature = deel.signature(env["TAOPS_DEEL_SIGNING_KEY"], body.encode())
        lines.append(
            f"curl -sS -X POST {urls['deel_webhook']} -H 'content-type: application/json' "
            f"-H 'x-deel-signature: {signature}' --data-binary '{body}'"
        )
    om = events / "salesforce_outbound_message_opportunity.xml"
    lines.append(
        f"curl -sS -X POST '{urls['salesforce_webhook']}?token={env['TAOPS_SALESFORCE_TOKEN']}' "
        f"-H 'content-type: text/xml' --data-binary @{om}"
    )
    ping = events / "vitally_playbook_webhook_UNCONFIRMED.json"
    lines.append(
        f"curl -sS -X POST '{urls['vitally_webhook']}?token={env['TAOPS_VITALLY_TOKEN']}' "
        f"-H 'content-type: application/json' --data-binary @{ping}"
    )
    return lines


def deel_body(
    template: dict[str, Any],
    *,
    email: str,
    start: date,
    end: date,
    name: str | None = None,
    absence_id: str | None = None,
) -> str:
    """A Deel time-off payload (a vendor fixture as ``template``) for ``email`` and dates."""
    body = copy.deepcopy(template)
    resource = body["data"]["resource"]
    resource.update(start_date=start.isoformat(), end_date=end.isoformat())
    if absence_id:
        resource["id"] = absence_id
    resource["requester"]["work_email"] = email
    if name:
        resource["requester"]["name"] = name
    return json.dumps(body, separators=(",", ":"))


def run(book: Path, say: Callable[[str], None] = print, stop_event: threading.Event | None = None) -> int:
    """Start the pipeline, print how to use it, and wait for Ctrl-C (or ``stop_event``)."""
    stopping = stop_event or threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        pipeline = start(book, say)
    except StartError as exc:
        say(f"taops dev: {exc}")
        return 1
    try:
        say("\nwebhooks:")
        for target in HTTP:
            say(f"  {target:<20} {pipeline.urls[target]}")
        say("\ntry (signatures computed with the dev secrets; `taops sign` makes more):")
        for line in curl_lines(pipeline.urls, pipeline.env):
            say(f"  {line}")
        say("\nready: Ctrl-C stops everything")
        stopping.wait()
    finally:
        say("stopping...")
        pipeline.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    return 0
