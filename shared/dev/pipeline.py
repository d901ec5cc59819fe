"""Starting and stopping the local pipeline: the emulators, the Gmail stand-in, every
function served by functions-framework, the topics and their push subscriptions."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.dev.examples import ROOT, curl_lines, example_mail
from shared.dev.state import (
    CLOCK_FILE,
    DEV_GMAIL_TOKEN,
    PROJECT,
    STATE_DIR,
    STATE_FILE,
    NotRunningError,
    read_state,
)
from shared.localrun import (
    START_TIMEOUT_S,
    Service,
    StartError,
    emulator,
    free_port,
    function_server,
    missing_tools,
)

HTTP = ("deel_webhook", "salesforce_webhook", "vitally_webhook")
# The operations view, served like the deployed function but open on 127.0.0.1 only.
DASHBOARD = "dashboard"
# Topic → the function its push subscription feeds.
PUSH = {
    "pto-logged": "on_pto_logged",
    "renewal-changed": "on_renewal_changed",
    "health-changed": "on_health_changed",
    "gmail-push": "on_group_mail",
    "cadence-tick": "on_cadence_tick",
    "actions": "deliver_action",
    "refused-input": "keep_refused",
}
DEV_SECRETS = {
    "TAOPS_DEEL_SIGNING_KEY": "dev-deel-signing-key",
    "TAOPS_SALESFORCE_TOKEN": "dev-salesforce-token",
    "TAOPS_SALESFORCE_ORG_IDS": "00D5e000000KQ2eEAG",
    "TAOPS_VITALLY_TOKEN": "dev-vitally-token",
}
# The deployed subscriptions' policies (infra/modules/function/dead_letter_policy.sh
# retries 10 s to 600 s); five deliveries, Pub/Sub's minimum, so a poison message shows
# up in its dead-letter topic within minutes.
MAX_DELIVERY_ATTEMPTS = 5
MIN_BACKOFF = timedelta(seconds=10)
MAX_BACKOFF = timedelta(seconds=600)
EXAMPLE_MAIL = "dev-mail-example.json"


@dataclass
class DevPipeline:
    services: list[Service] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    state_dir: Path | None = None
    mailbox: str = ""
    gmail_url: str = ""
    # Dead-letter topic → the pull subscription that shows what landed there.
    dead_letters: dict[str, str] = field(default_factory=dict)
    book: Path | None = None
    example_mail: Path | None = None
    # Every service's log, in one temporary folder removed at stop.
    log_dir: Path | None = None
    _owns_state: bool = False

    @property
    def state_file(self) -> Path | None:
        return self.state_dir / STATE_FILE if self.state_dir else None

    @property
    def clock_file(self) -> Path | None:
        return self.state_dir / CLOCK_FILE if self.state_dir else None

    def logs(self) -> dict[str, str]:
        return {service.name: str(service.log) for service in self.services}

    def stop(self) -> None:
        """Stop every service, and remove what the pipeline wrote: its state and clock files,
        the example mail and the logs."""
        for service in reversed(self.services):
            service.stop()
        if self._owns_state and self.state_file and self.clock_file:
            self.state_file.unlink(missing_ok=True)
            self.clock_file.unlink(missing_ok=True)
            if self.example_mail is not None:
                self.example_mail.unlink(missing_ok=True)
        if self.log_dir is not None:
            shutil.rmtree(self.log_dir, ignore_errors=True)


def start(book: Path, say: Callable[[str], None] = print, state_dir: Path | None = None) -> DevPipeline:
    """Start everything; on any failure stop what was started and raise ``StartError``
    (also when another pipeline is running from ``state_dir``, default ``.taops``)."""
    reason = missing_tools()
    if reason:
        raise StartError(reason)
    folder = (state_dir or STATE_DIR).resolve()
    try:
        other = read_state(folder / STATE_FILE)
    except NotRunningError:
        other = None
    if other is not None:
        raise StartError(f"taops dev is already running from {folder} (pid {other['pid']}): stop it first")
    folder.mkdir(parents=True, exist_ok=True)
    pipeline = DevPipeline(state_dir=folder, _owns_state=True)
    assert pipeline.clock_file is not None
    pipeline.clock_file.unlink(missing_ok=True)  # a new pipeline starts on the real time
    pipeline.log_dir = logs = Path(tempfile.mkdtemp(prefix="taops-dev-logs-"))
    try:
        firestore, pubsub_emu = emulator("firestore", PROJECT, logs), emulator("pubsub", PROJECT, logs)
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
            "TAOPS_CLOCK_FILE": str(pipeline.clock_file),
            # As deployed: a webhook publishes what it refuses; keep_refused stores it.
            "TAOPS_REFUSED_TOPIC": "refused-input",
            **{k: os.environ.get(k, v) for k, v in DEV_SECRETS.items()},
        }
        os.environ.update(pipeline.env)
        pipeline.mailbox = _import(book, say)
        gmail = _gmail_stand_in(pipeline.mailbox, pipeline.env, logs)
        pipeline.services.append(gmail)
        gmail.wait_ready("/dev/health")
        pipeline.gmail_url = f"http://{gmail.host}/"
        pipeline.env |= {
            "TAOPS_GMAIL_API_BASE": pipeline.gmail_url.rstrip("/"),
            "TAOPS_GMAIL_ACCESS_TOKEN": DEV_GMAIL_TOKEN,
        }
        os.environ.update(pipeline.env)
        say(f"Gmail stand-in for {pipeline.mailbox} on {gmail.host}")
        servers = {t: function_server(t, "http", pipeline.env, ROOT / "main.py", logs) for t in HTTP}
        servers |= {
            t: function_server(t, "cloudevent", pipeline.env, ROOT / "main.py", logs) for t in PUSH.values()
        }
        # The operations view, open on 127.0.0.1 (function_server listens there only).
        servers[DASHBOARD] = function_server(
            DASHBOARD, "http", {**pipeline.env, "TAOPS_DASHBOARD_LOCAL": "1"}, ROOT / "main.py", logs
        )
        pipeline.services += list(servers.values())
        for target, server in servers.items():
            # Any HTTP answer means the server is up (a GET is refused by design).
            server.wait_ready(ok_statuses=(200, 400, 403, 405, 500))
            pipeline.urls[target] = f"http://{server.host}/"
        pipeline.dead_letters = _wire_topics(pipeline.urls)
        say(
            "topics, dead-letter topics and push subscriptions created "
            f"(retry {MIN_BACKOFF.seconds} s to {MAX_BACKOFF.seconds} s, "
            f"dead letter after {MAX_DELIVERY_ATTEMPTS} deliveries)"
        )
        history_id = _connect_mailbox(pipeline, servers["on_group_mail"])
        say(f"{pipeline.mailbox} watched into gmail-push; on_group_mail synced from history {history_id}")
        pipeline.example_mail = folder / EXAMPLE_MAIL
        pipeline.example_mail.write_text(
            json.dumps(example_mail(book, pipeline.mailbox), indent=2) + "\n", encoding="utf-8"
        )
        pipeline.book = book
        _write_state(pipeline)
        return pipeline
    except BaseException:
        pipeline.stop()
        raise


def _gmail_stand_in(mailbox: str, env: dict[str, str], log_dir: Path) -> Service:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "shared.devmail",
        "--port",
        str(port),
        "--mailbox",
        mailbox,
        "--token",
        DEV_GMAIL_TOKEN,
    ]
    return Service("gmail-stand-in", argv, port, env, log_dir)


def _import(book: Path, say: Callable[[str], None]) -> str:
    """Import ``book``; returns the pooled mailbox's address (the policy's)."""
    from shared import clients
    from shared.book import import_book, load_book
    from shared.policy import load_policy

    clients.reset()
    policy = load_policy()
    people, accounts = import_book(clients.store(), load_book(book), policy)
    say(f"imported {people} people and {accounts} accounts from {book}")
    return policy.group_mail.address.lower()


def _wire_topics(urls: dict[str, str]) -> dict[str, str]:
    """Each topic's push subscription, with the deployed retry and dead-letter policies, and
    a pull subscription on each dead-letter topic; returns dead-letter topic → the latter."""
    from google.api_core.exceptions import AlreadyExists
    from google.cloud import pubsub_v1

    from shared import pubsub

    pubsub.reset_clients()
    pubsub.ensure_topics(PROJECT)
    subscriber = pubsub_v1.SubscriberClient()
    inspection: dict[str, str] = {}
    try:
        for topic, target in PUSH.items():
            dead_letter = pubsub.dead_letter_topic(topic)
            path = subscriber.subscription_path(PROJECT, f"{topic}-to-{target}")
            with_push: dict[str, Any] = {"push_endpoint": urls[target]}
            with contextlib.suppress(AlreadyExists):  # a restart reuses what exists
                subscriber.create_subscription(
                    request={
                        "name": path,
                        "topic": pubsub.topic_path(topic, PROJECT),
                        "push_config": with_push,
                        "ack_deadline_seconds": 60,
                        "dead_letter_policy": {
                            "dead_letter_topic": pubsub.topic_path(dead_letter, PROJECT),
                            "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
                        },
                        "retry_policy": {"minimum_backoff": MIN_BACKOFF, "maximum_backoff": MAX_BACKOFF},
                    }
                )
            # Named as infra's (modules/topic): where a person reads what was given up on.
            inspect = subscriber.subscription_path(PROJECT, f"{topic}-dead-letter-inspection")
            with contextlib.suppress(AlreadyExists):
                subscriber.create_subscription(
                    request={
                        "name": inspect,
                        "topic": pubsub.topic_path(dead_letter, PROJECT),
                        "ack_deadline_seconds": 60,
                    }
                )
            inspection[dead_letter] = inspect
    finally:
        subscriber.close()
    return inspection


def _connect_mailbox(pipeline: DevPipeline, on_group_mail: Service) -> int:
    """Watch the pooled mailbox into ``gmail-push`` (as ``taops gmail watch`` does) and
    send its first push: ``on_group_mail`` stores the mailbox's history id from it, as it
    does with the first push after a deployment, so the next mail is synced. Waits until
    it is stored; ``StartError`` if it never is."""
    import httpx

    from shared import clients, pubsub
    from shared.mailbox import MAILBOXES
    from shared.sources.gmail import GmailApi

    with httpx.Client(timeout=10) as http:
        answer = GmailApi(http, DEV_GMAIL_TOKEN, pipeline.gmail_url).watch(
            pipeline.mailbox, pubsub.topic_path("gmail-push", PROJECT)
        )
    history_id = int(answer["historyId"])
    notification = {"emailAddress": pipeline.mailbox, "historyId": str(history_id)}
    pubsub.publish("gmail-push", json.dumps(notification).encode())
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        cursor = clients.store().get(MAILBOXES, pipeline.mailbox)
        if cursor is not None and int(cursor.get("history_id", 0)) >= history_id:
            return history_id
        time.sleep(0.2)
    tail = on_group_mail.log.read_text(errors="replace")[-2000:]
    raise StartError(f"on_group_mail never synced {pipeline.mailbox} from the first push:\n{tail}")


def _write_state(pipeline: DevPipeline) -> None:
    assert pipeline.state_file is not None
    state = {
        "pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(),
        "project": PROJECT,
        "firestore_emulator_host": pipeline.env["FIRESTORE_EMULATOR_HOST"],
        "pubsub_emulator_host": pipeline.env["PUBSUB_EMULATOR_HOST"],
        "urls": pipeline.urls,
        "gmail": {"url": pipeline.gmail_url, "mailbox": pipeline.mailbox, "token": DEV_GMAIL_TOKEN},
        "clock_file": str(pipeline.clock_file),
        "example_mail": str(pipeline.example_mail),
        "dead_letter_subscriptions": pipeline.dead_letters,
        "logs": pipeline.logs(),
    }
    temporary = pipeline.state_file.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    temporary.replace(pipeline.state_file)


# -- the foreground run --------------------------------------------------------------------


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def inspect_lines(pipeline: DevPipeline) -> list[str]:
    """How to point the CLI at the running pipeline's Firestore emulator."""
    point = (
        f"FIRESTORE_EMULATOR_HOST={pipeline.env['FIRESTORE_EMULATOR_HOST']} GOOGLE_CLOUD_PROJECT={PROJECT} "
        f"TAOPS_STORE=firestore:{PROJECT}"
    )
    return [
        f"export {point}",
        "taops outbox                # what taops did or will do, in time order",
        "taops show account ACCOUNT  # an account: team, health, renewal, waits, actions",
        "taops show plan ABSENCE     # a coverage plan and its actions",
        "taops dead-letters          # what was refused, and why",
    ]


def mailbox_lines(pipeline: DevPipeline) -> list[str]:
    """The pooled mailbox's walk through the SLA ladder, as commands to paste (the demo
    book's working week: 48 working hours from a Tuesday 10:00 UTC is Thursday 10:00)."""
    assert pipeline.example_mail is not None and pipeline.clock_file is not None
    inspect = (
        f"FIRESTORE_EMULATOR_HOST={pipeline.env['FIRESTORE_EMULATOR_HOST']} "
        f"TAOPS_CLOCK_FILE={pipeline.clock_file} taops mailbox --store firestore:{PROJECT}"
    )
    commands = [
        ("taops dev clock 2026-12-01T10:00:00Z", "the pipeline's time: a Tuesday (`now`: the real time)"),
        (f"taops dev mail {_relative(pipeline.example_mail)}", "a customer writes to the pooled mailbox"),
        ("taops dev clock 2026-12-03T10:30:00Z", "48 working hours on: the SLA is breached"),
        ("taops dev tick sla-check", "the scheduler's tick: step 1 of the ladder goes to `actions`"),
        (inspect, "the threads waiting for a reply"),
    ]
    width = max(len(c) for c, _ in commands[:-1])
    return [f"{c:<{width}}  # {why}" if i < 4 else f"{c}  # {why}" for i, (c, why) in enumerate(commands)]


def run(
    book: Path,
    say: Callable[[str], None] = print,
    stop_event: threading.Event | None = None,
    state_dir: Path | None = None,
) -> int:
    """Start the pipeline, print how to use it, and wait for Ctrl-C (or ``stop_event``)."""
    stopping = stop_event or threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        pipeline = start(book, say, state_dir)
    except StartError as exc:
        say(f"taops dev: {exc}")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        return 1
    try:
        say(
            f"\ndashboard: {pipeline.urls[DASHBOARD]} "
            "(open on 127.0.0.1, no sign-in; acting as the book's TA manager)"
        )
        say("\nwebhooks:")
        for target in HTTP:
            say(f"  {target:<20} {pipeline.urls[target]}")
        say("\nCloudEvent endpoints (each topic's push subscription posts here):")
        for topic, target in PUSH.items():
            say(f"  {topic:<16} -> {target:<20} {pipeline.urls[target]}")
        say(
            f"\npooled mailbox {pipeline.mailbox}: a local Gmail stand-in (not Gmail) at "
            f"{pipeline.gmail_url}, watched into gmail-push"
        )
        say(
            f"dead letters: after {MAX_DELIVERY_ATTEMPTS} failed deliveries a message goes to its "
            "topic's <topic>-dead-letter, read with the pull subscription "
            "<topic>-dead-letter-inspection"
        )
        say(f"state: {pipeline.state_file} (the sub-actions below find the pipeline through it)")
        say(f"logs (in {pipeline.log_dir}, removed at stop):")
        for name, path in pipeline.logs().items():
            say(f"  {name:<20} {path}")
        say("\nthe emulator's state, from another terminal:")
        for line in inspect_lines(pipeline):
            say(f"  {line}")
        say("\ntry (signatures computed with the dev secrets; `taops sign` makes more):")
        for line in curl_lines(pipeline.urls, pipeline.env, book):
            say(f"  {line}")
        say("\ntry, from another terminal in this directory:")
        for line in mailbox_lines(pipeline):
            say(f"  {line}")
        if os.environ.get("TAOPS_CLOCK"):
            say("note: TAOPS_CLOCK is set here and wins over `taops dev clock`: unset it to move time")
        say("\nready: Ctrl-C stops everything")
        stopping.wait()
    finally:
        say("stopping...")
        pipeline.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    say("stopped")
    return 0
