"""A Salesforce Outbound Message of 5,000 notifications through ``salesforce_webhook``
(the functions framework's test client) onto the Pub/Sub emulator: how long from the POST
to the SOAP Ack, which comes only after every notification is published. The same body is
also published the way the webhook did before (one publish waited on at a time), for
comparison. Webhooks are deployed with a 30 s timeout (infra/main.tf).
"""

from __future__ import annotations

import contextlib
import io
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import clients, pubsub
from shared.localrun import emulator, missing_tools
from shared.sources import salesforce as sf
from tests.salesforce_messages import ORG, outbound_message

ROOT = Path(__file__).resolve().parents[1]
COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
RUNS = 3
TOKEN = "bench-token"


def main() -> int:
    reason = missing_tools()
    if reason:
        print(f"{'salesforce fan-out':<44}{'skipped':>12}   ({reason})")
        return 0
    from functions_framework import create_app

    service = emulator("pubsub", "taops-bench")
    try:
        service.wait_ready()
        os.environ.update(
            PUBSUB_EMULATOR_HOST=service.host,
            GOOGLE_CLOUD_PROJECT=f"taops-bench-{uuid.uuid4().hex[:8]}",
            TAOPS_STORE="embedded",
            TAOPS_SALESFORCE_TOKEN=TOKEN,
            TAOPS_SALESFORCE_ORG_IDS=ORG,
        )
        clients.reset()
        pubsub.reset_clients()
        pubsub.ensure_topics(topics=(sf.RENEWAL_TOPIC,))
        client = create_app("salesforce_webhook", str(ROOT / "main.py"), "http").test_client()
        body = outbound_message(COUNT)
        batched = []
        for _ in range(RUNS):
            started = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the webhook's JSON log lines
                response = client.post(f"/?token={TOKEN}", data=body, headers={"content-type": "text/xml"})
            batched.append(time.perf_counter() - started)
            assert response.status_code == 200 and b"<Ack>true</Ack>" in response.data, response.data[:200]
        events = sf.normalize_outbound_message(sf.parse_outbound_message(body), datetime.now(UTC))
        started = time.perf_counter()
        for event in events:  # the previous webhook: one publish, waited on, after another
            pubsub.publish(sf.RENEWAL_TOPIC, event.to_json(), event.attributes())
        one_by_one = time.perf_counter() - started
    finally:
        service.stop()
    print(f"salesforce fan-out: {COUNT} notifications, {len(body):,} bytes")
    print(f"{'POST to Ack, batched (median of ' + str(RUNS) + ')':<44}{statistics.median(batched):>10.2f} s")
    print(f"{'one publish after another (before)':<44}{one_by_one:>10.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
