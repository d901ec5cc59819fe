"""The sub-actions a second terminal runs against a running ``taops dev``: a customer's
mail arrives (``mail``), the pipeline's time moves (``clock``), Cloud Scheduler ticks
(``tick``)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from shared.dev.state import NotRunningError, find_running


def _text(moment: datetime) -> str:
    from shared.models import utc_text

    return utc_text(moment)


def _readable(moment: datetime) -> str:
    at = moment.astimezone(UTC)
    return f"{at:%a} {at.day} {at:%b %Y %H:%M} UTC"


def post_mail(file: Path, at: datetime | None = None, say: Callable[[str], None] = print) -> int:
    """``taops dev mail``: the message resource in ``file`` arrives in the pooled mailbox
    (internalDate = ``at`` when given) and Gmail's push goes to ``gmail-push``."""
    state = find_running()
    try:
        resource = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {file}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{file} is not JSON: {exc}") from None
    if not isinstance(resource, dict):
        raise ValueError(f"{file}: a Gmail message resource is a JSON object")
    if at is not None:
        resource["internalDate"] = str(int(at.timestamp() * 1000))
    url = state["gmail"]["url"].rstrip("/") + "/dev/messages"
    request = urllib.request.Request(
        url, data=json.dumps(resource).encode(), method="POST", headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            reason = exc.reason
        raise ValueError(f"the Gmail stand-in refused it ({exc.code}): {reason}") from None
    except OSError as exc:
        raise NotRunningError(
            f"the Gmail stand-in at {url} does not answer ({exc}): is taops dev running?"
        ) from None
    arrived = datetime.fromtimestamp(int(answer["internalDate"]) / 1000, UTC)
    say(
        f"message {answer['id']} (thread {answer['threadId']}) arrived in {answer['mailbox']} "
        f"at {_text(arrived)}, history {answer['historyId']}"
    )
    if answer.get("pushed_to"):
        say(f"Gmail push published to {answer['pushed_to']} (message {answer.get('push_message_id')})")
    else:
        say(f"no Gmail push: {answer.get('not_pushed')}")
    return 0


def set_clock(moment: datetime | None, *, clear: bool = False, say: Callable[[str], None] = print) -> int:
    """``taops dev clock``: set the pipeline's time to ``moment``, clear it (back to the real
    time), or, with neither, show it."""
    from shared import clock

    state = find_running()
    path = Path(state["clock_file"])
    if clear:
        clock.write_file(path, None)
        say("the pipeline runs on the real time again")
        return 0
    if moment is None:
        shown = clock.read_file(path)
        say(f"simulated: {_text(shown)} ({_readable(shown)})" if shown else "the real time")
        return 0
    clock.write_file(path, moment)
    say(f"the pipeline's time is {_text(moment)} ({_readable(moment)}) until `taops dev clock` moves it")
    return 0


def publish_tick(job: str, at: datetime | None = None, say: Callable[[str], None] = print) -> int:
    """``taops dev tick``: publish ``{"job": JOB[, "at": ISO]}`` to ``cadence-tick``, as
    Cloud Scheduler does. Without ``at``, the functions take the tick's time from the
    pipeline's clock, simulated or not (``functions.ticks``)."""
    from shared import pubsub
    from shared.exceptions import TransientError
    from shared.jobs import JOBS

    if job not in JOBS:
        raise ValueError(f"no job {job!r} (known: {', '.join(sorted(JOBS))})")
    state = find_running()
    data: dict[str, str] = {"job": job}
    if at is not None:
        data["at"] = _text(at)
    os.environ.update(
        {"PUBSUB_EMULATOR_HOST": state["pubsub_emulator_host"], "GOOGLE_CLOUD_PROJECT": state["project"]}
    )
    pubsub.reset_clients()
    body = json.dumps(data)
    try:
        message_id = pubsub.publish("cadence-tick", body.encode())
    except TransientError as exc:
        raise NotRunningError(f"{exc}: is taops dev running?") from None
    say(f"published {body} to cadence-tick, message {message_id}")
    return 0
