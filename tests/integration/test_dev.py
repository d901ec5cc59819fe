"""`taops dev` started and stopped for real, and driven from a second terminal as a person
would: a signed Deel payload posted to the local webhook ends as actions on the emulator's
`actions` topic; a customer mail posted with `taops dev mail` reaches `on_group_mail`
through the Gmail stand-in and the real push subscription, and `taops dev clock` and
`taops dev tick` walk it up the SLA ladder. After Ctrl-C nothing it started is left
running."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.localrun import missing_tools
from shared.sources import deel
from shared.sources.gmail import GmailApi, HistoryExpiredError
from tests.gmail_messages import gmail_message

ROOT = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).with_name("taops")
PROJECT = "taops-local"
POOLED = "technicaladvisors@example.com"
CHAMPION = "champion@tyrell.test"
SENT_HEADERS = ("From", "To", "Subject", "Date", "Message-ID")  # as tests/gmail_messages.py writes them


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 180) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen += line
        if marker in line:
            return seen
    raise AssertionError(f"taops dev never printed {marker!r}:\n{seen}")


def _running(pattern: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if pattern in line and "ps -eo" not in line]


def _until(what: str, probe: Callable[[], Any], timeout: float = 90) -> Any:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout:g} s")


@dataclass
class Dev:
    """A running `taops dev`, and a second terminal in its directory."""

    proc: subprocess.Popen[str]
    cwd: Path
    env: dict[str, str]
    banner: str
    state: dict[str, Any]

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [str(EXE), *args], cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"taops {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout


class ActionsProbe:
    """A pull subscription on `actions`, created before anything is posted; every message
    pulled is acknowledged and kept once per Pub/Sub message id (a redelivery is not a
    second publish)."""

    def __init__(self, name: str) -> None:
        from google.cloud import pubsub_v1

        self.sub = pubsub_v1.SubscriberClient()
        self.path = self.sub.subscription_path(PROJECT, name)
        self.sub.create_subscription(name=self.path, topic=f"projects/{PROJECT}/topics/actions")
        self.seen: dict[str, dict[str, Any]] = {}

    def pull(self) -> None:
        from google.api_core.exceptions import DeadlineExceeded

        try:
            response = self.sub.pull(
                subscription=self.path, max_messages=100, return_immediately=True, timeout=10
            )
        except DeadlineExceeded:
            return
        for received in response.received_messages:
            self.seen.setdefault(received.message.message_id, json.loads(received.message.data))
        if response.received_messages:
            self.sub.acknowledge(
                subscription=self.path, ack_ids=[m.ack_id for m in response.received_messages]
            )

    def actions(self) -> list[dict[str, Any]]:
        return list(self.seen.values())

    def close(self) -> None:
        self.sub.close()


@pytest.fixture(scope="module")
def taops_dev(emulators: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    """`taops dev` in a directory of its own; on the way out, Ctrl-C and a check that every
    process it started is gone, with its state and clock files."""
    if missing_tools():
        pytest.skip(missing_tools())
    cwd = tmp_path_factory.mktemp("taops-dev")
    env = {**os.environ, "TAOPS_DEEL_SIGNING_KEY": "it-key", "PYTHONUNBUFFERED": "1"}
    for name in (
        "FIRESTORE_EMULATOR_HOST",
        "PUBSUB_EMULATOR_HOST",
        "TAOPS_STORE",
        "TAOPS_CLOCK",
        "TAOPS_CLOCK_FILE",
    ):
        env.pop(name, None)
    proc = subprocess.Popen(
        [str(EXE), "dev"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    ports: list[str] = []
    try:
        banner = _read_until(proc, "ready: Ctrl-C stops everything")
        ports = re.findall(r"127\.0\.0\.1:(\d+)", banner)
        state = json.loads((cwd / ".taops" / "dev.json").read_text())
        os.environ["PUBSUB_EMULATOR_HOST"] = state["pubsub_emulator_host"]
        yield Dev(proc, cwd, env, banner, state)
    finally:
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert proc.returncode == 0
    leftovers = [p for port in ports for p in _running(port)]
    assert leftovers == [], leftovers
    assert not (cwd / ".taops" / "dev.json").exists()
    assert not (cwd / ".taops" / "dev-clock").exists()
    assert not (cwd / ".taops" / "dev-mail-example.json").exists()
    logs = [Path(p) for p in state["logs"].values()]
    assert logs and not any(log.exists() for log in logs), "its logs are temporary files, removed"


def test_taops_dev_serves_the_dashboard_and_says_how_to_reach_its_state(taops_dev: Dev) -> None:
    url = re.search(r"dashboard: (http://127\.0\.0\.1:\d+/)", taops_dev.banner).group(1)
    with urllib.request.urlopen(url + "accounts?format=json", timeout=30) as response:
        page = json.loads(response.read())
    assert page["accounts"] == 40  # the demo book, imported into the emulator
    with urllib.request.urlopen(url, timeout=30) as response:
        assert "Today: the pooled mailbox" in response.read().decode()
    assert re.search(r"pto-logged\s+-> on_pto_logged\s+http://127\.0\.0\.1:\d+/", taops_dev.banner)
    host = taops_dev.state["firestore_emulator_host"]
    assert f"export FIRESTORE_EMULATOR_HOST={host} GOOGLE_CLOUD_PROJECT={PROJECT}" in taops_dev.banner
    for log in taops_dev.state["logs"].values():
        assert log in taops_dev.banner and Path(log).exists()


def test_taops_dev_carries_a_deel_payload_to_the_actions_topic(taops_dev: Dev) -> None:
    webhook = re.search(r"deel_webhook\s+(http://\S+)", taops_dev.banner).group(1)
    probe = ActionsProbe("actions-probe-deel")
    try:
        body = json.loads((ROOT / "tests" / "events" / "deel_time_off_reviewed_approved.json").read_text())
        body["data"]["resource"].update(start_date="2026-12-14", end_date="2026-12-18")
        body["data"]["resource"]["requester"]["work_email"] = "ana@example.com"
        raw = json.dumps(body).encode()
        request = urllib.request.Request(
            webhook,
            data=raw,
            method="POST",
            headers={"content-type": "application/json", "x-deel-signature": deel.signature("it-key", raw)},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

        def kinds() -> set[str]:
            probe.pull()
            found = {a["kind"] for a in probe.actions()}
            return found if "gmail.vacation" in found else set()

        assert {"email.send", "slack.message", "gmail.vacation", "vitally.task"} <= _until(
            "the coverage plan's actions on `actions`", kinds
        )
    finally:
        probe.close()


# A Tuesday; 36, 48, 60 and 72 working hours later (working_days clock, Europe/Berlin: Ana,
# Tyrell's TA, works from Berlin) are Wed 2 Dec 22:00Z, Thu 3 Dec 10:00Z, Thu 3 Dec 22:00Z
# and Fri 4 Dec 10:00Z. Each clock below is past one of them and before the next, inside the
# working hours of who hears that step (else it would wait for their next working hour).
WROTE = "2026-12-01T10:00:00Z"
LADDER = [
    # the reminder: 36 working hours fall at 23:00 in Berlin, so it comes at 16:00 the day before
    (0, "2026-12-02T15:30:00Z", "ana@example.com"),
    (1, "2026-12-03T10:30:00Z", "ana@example.com"),  # step 1, the TA
    (2, "2026-12-04T09:15:00Z", "mara@example.com"),  # step 2, her manager, in London
    (3, "2026-12-04T15:30:00Z", "dana@example.com"),  # step 3, the director, in Chicago
]


def test_an_unanswered_customer_mail_climbs_the_sla_ladder_once_per_step(taops_dev: Dev) -> None:
    dev = taops_dev
    probe = ActionsProbe("actions-probe-sla")
    tick_log = Path(dev.state["logs"]["on_cadence_tick"])
    try:
        # Given the pipeline's time fixed on a Tuesday at 10:00 UTC
        dev.run("dev", "clock", WROTE)
        assert dev.run("dev", "clock").startswith(f"simulated: {WROTE}")

        # When Tyrell's champion writes to the pooled mailbox (the banner's own command)
        mail = re.search(r"^\s*(taops dev mail \S+)", dev.banner, re.MULTILINE).group(1)
        out = dev.run(*shlex.split(mail)[1:], "--at", WROTE)
        thread = re.search(r"\(thread (\S+)\)", out).group(1)
        assert f"published to projects/{PROJECT}/topics/gmail-push" in out

        # Then on_group_mail synced it from the stand-in: the thread waits, the reminder next
        mailbox_env = {**dev.env, "FIRESTORE_EMULATOR_HOST": dev.state["firestore_emulator_host"]}

        def waiting() -> dict[str, Any] | None:
            done = subprocess.run(
                [str(EXE), "mailbox", "--store", f"firestore:{PROJECT}", "--json", "--at", WROTE],
                env=mailbox_env,
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            rows = [r for r in json.loads(done.stdout) if r["thread_id"] == thread]
            return rows[0] if rows else None

        row = _until("the mail's thread in the store", waiting)
        assert (row["account_id"], row["ta"]) == ("tyrell", "ana@example.com")
        assert row["customer"] == CHAMPION
        assert (row["waiting_since"], row["next_sla_level"]) == (WROTE, 0)
        assert row["next_sla_at"] == "2026-12-02T15:00:00Z"

        for level, now, recipient in LADDER:
            # When time passes the step's due time and Cloud Scheduler ticks, twice
            dev.run("dev", "clock", now)
            dev.run("dev", "tick", "sla-check")
            dev.run("dev", "tick", "sla-check")
            tick = f"sla-check@{now}"

            def both_ticks_done(tick: str = tick) -> list[str]:
                entries = [json.loads(x) for x in tick_log.read_text().splitlines() if x.startswith("{")]
                done = [x for x in entries if x.get("message") == "on_cadence_tick done"]
                outcomes = sorted(x["outcome"] for x in done if x.get("tick") == tick)
                return outcomes if len(outcomes) >= 2 else []

            # Then the tick ran once and its duplicate (and any redelivery) did nothing
            outcomes = _until(f"both ticks of {tick} handled", both_ticks_done)
            assert outcomes.count("applied") == 1 and set(outcomes) == {"applied", "duplicate"}

            def arrived(level: int = level) -> list[dict[str, Any]]:
                probe.pull()
                return [a for a in probe.actions() if a.get("cadence") == "sla" and a["sla_level"] == level]

            (action,) = _until(f"sla_level {level} on `actions`", arrived)
            assert action["thread_id"] == thread
            assert action["idempotency_key"] == f"sla:{thread}:{WROTE}:{level}"
            assert action["recipients"] == [recipient]

        # Every tick is handled by now, so whatever it published is in the subscription.
        probe.pull()
        sla = [a for a in probe.actions() if a.get("cadence") == "sla"]
        assert [a["sla_level"] for a in sla] == [0, 1, 2, 3]
        assert len({a["idempotency_key"] for a in sla}) == 4
    finally:
        probe.close()
        # Back to the real time for whatever runs next; not checked, so a failure above
        # stays the one reported.
        subprocess.run([str(EXE), "dev", "clock", "now"], cwd=dev.cwd, env=dev.env, timeout=60, check=False)


def test_a_red_that_holds_enters_lighthouse_once_through_taops_dev(taops_dev: Dev) -> None:
    dev = taops_dev
    probe = ActionsProbe("actions-probe-lighthouse")
    health_log = Path(dev.state["logs"]["on_health_changed"])
    try:
        # Given the pipeline's time on a Tuesday morning, when Vitally pings: Acme is red
        dev.run("dev", "clock", "2026-12-01T10:00:00Z")
        webhook = re.search(r"vitally_webhook\s+(http://\S+)", dev.banner).group(1)
        body = {"match": {"account": {"id": "vit-acme", "externalId": "acme", "healthScore": 2.5}}}
        response = httpx.post(webhook, json=body, headers={"x-taops-token": "dev-vitally-token"}, timeout=30)
        assert response.status_code == 200, response.text

        def recorded() -> bool:
            lines = [json.loads(x) for x in health_log.read_text().splitlines() if x.startswith("{")]
            return any("must hold until 2026-12-01 12:00 UTC" in " ".join(x.get("notes", [])) for x in lines)

        _until("the category change recorded, the reaction waiting", recorded)
        probe.pull()
        assert [a for a in probe.actions() if a.get("cadence") == "lighthouse"] == []

        # When it has held past the debounce and Cloud Scheduler ticks, twice
        dev.run("dev", "clock", "2026-12-01T14:30:00Z")
        dev.run("dev", "tick", "health-check")
        dev.run("dev", "tick", "health-check")

        def lighthouse() -> list[dict[str, Any]]:
            probe.pull()
            found = [a for a in probe.actions() if a.get("cadence") == "lighthouse"]
            return found if len(found) >= 4 else []

        # Then Acme enters Lighthouse once: the task, and the TA, AE and TA manager told
        found = _until("the Lighthouse actions on `actions`", lighthouse)
        entered = "lighthouse:acme:2026-12-01T10:00:00Z"
        assert sorted((a["idempotency_key"], a["recipients"][0]) for a in found) == [
            (f"{entered}:save-plan", "ana@example.com"),
            (f"{entered}:told:alex@example.com", "alex@example.com"),
            (f"{entered}:told:ana@example.com", "ana@example.com"),
            (f"{entered}:told:mara@example.com", "mara@example.com"),
        ]
    finally:
        probe.close()
        subprocess.run([str(EXE), "dev", "clock", "now"], cwd=dev.cwd, env=dev.env, timeout=60, check=False)


def test_a_renewal_moved_inside_its_window_starts_the_renewal_process_through_taops_dev(
    taops_dev: Dev,
) -> None:
    from tests.functional.test_renewal_process import renewal_moved

    dev = taops_dev
    probe = ActionsProbe("actions-probe-renewal")
    try:
        # Given the pipeline's time on 1 December, when Salesforce moves Soylent's renewal
        # (17 November 2027) to 20 January, inside the 120 days
        dev.run("dev", "clock", "2026-12-01T15:00:00Z")
        webhook = re.search(r"salesforce_webhook\s+(http://\S+)", dev.banner).group(1)
        body = json.loads(renewal_moved("2026-12-01T15:00:00", "001DEMO0010", "2027-01-20", 9))["payload"]
        headers = {"x-taops-token": "dev-salesforce-token", "x-salesforce-org-id": "00D5e000000KQ2eEAG"}
        response = httpx.post(webhook, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text

        def started() -> list[dict[str, Any]]:
            probe.pull()
            found = [a for a in probe.actions() if a.get("cadence") == "renewal"]
            return found if len(found) >= 2 else []

        # Then the process starts on the event itself: the TA's task, and the AE's note
        found = _until("the renewal process's actions on `actions`", started)
        assert sorted((a["idempotency_key"], a["recipients"][0]) for a in found) == [
            ("renewal-start:soylent:2027-01-20", "carla@example.com"),
            ("renewal-start:soylent:2027-01-20:ae", "bea@example.com"),
        ]
    finally:
        probe.close()
        subprocess.run([str(EXE), "dev", "clock", "now"], cwd=dev.cwd, env=dev.env, timeout=60, check=False)


def test_without_a_running_pipeline_the_sub_actions_exit_1_saying_so(tmp_path: Path) -> None:
    for args in (["clock", "2026-12-01T10:00:00Z"], ["tick", "sla-check"], ["mail", "m.json"]):
        done = subprocess.run(
            [str(EXE), "dev", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 1
        assert "no taops dev pipeline is running" in done.stderr


def test_the_deployed_functions_never_import_the_gmail_stand_in() -> None:
    probe = "import sys, main\nassert 'shared.devmail' not in sys.modules and 'shared.dev' not in sys.modules"
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, timeout=60)


def test_the_gmail_stand_in_answers_gmail_apis_calls_in_gmails_shapes() -> None:
    from shared import devmail

    pushes: list[tuple[str, bytes]] = []
    server = devmail.server(
        0,
        POOLED,
        "dev-token",
        publish=lambda topic, data: pushes.append((topic, data)) or "1",
        now=lambda: datetime(2026, 12, 10, 12, tzinfo=UTC),
    )
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client(timeout=10) as http:
            api = GmailApi(http, "dev-token", base)
            watched = api.watch(POOLED, f"projects/{PROJECT}/topics/gmail-push")
            start = int(watched["historyId"])
            at = datetime(2026, 12, 1, 10, tzinfo=UTC)
            for n in range(120):  # more than one page of history (Gmail's 100)
                message = gmail_message(f"m{n}", f"t{n % 7}", CHAMPION, "Builds", at, X_Mailer="it")
                assert http.post(f"{base}/dev/messages", json=message).status_code == 200

            ids, latest = api.added_since(POOLED, start)
            assert ids == [f"m{n}" for n in range(120)] and latest == start + 120
            assert api.added_since(POOLED, start + 119) == (["m119"], start + 120)  # after m118
            with pytest.raises(HistoryExpiredError):
                api.added_since(POOLED, start - 1)  # older than the history it holds: 404
            got = api.metadata(POOLED, "m3")
            assert got is not None and (got["threadId"], got["historyId"]) == ("t3", str(start + 4))
            # Only the headers asked for (metadataHeaders): not the X-Mailer it was sent with
            assert {h["name"] for h in got["payload"]["headers"]} == set(SENT_HEADERS)
            assert api.metadata(POOLED, "unknown") is None
            # The resync: newer_than:Nd on the stand-in's clock (10 Dec), newest first
            assert sorted(api.recent(POOLED, 30)) == sorted(f"m{n}" for n in range(120))
            assert api.recent(POOLED, 7) == []
            unsigned = http.get(f"{base}/users/{POOLED}/history", params={"startHistoryId": str(start)})
            assert unsigned.status_code == 401
            assert unsigned.json()["error"]["status"] == "UNAUTHENTICATED"
        assert pushes[0] == (
            f"projects/{PROJECT}/topics/gmail-push",
            json.dumps({"emailAddress": POOLED, "historyId": str(start + 1)}).encode(),
        )
        assert len(pushes) == 120
    finally:
        server.shutdown()
        server.server_close()
