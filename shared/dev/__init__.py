"""``taops dev``: the real pipeline on one machine.

Starts the Firestore and Pub/Sub emulators, serves every entry point of ``main.py`` with
functions-framework, creates each topic with its dead-letter topic and a push
subscription to the function that consumes it (with the deployed retry and dead-letter
policies), imports a book, and prints ready-to-paste commands. Delivery runs in dry-run
mode: nothing reaches Slack, Gmail or Vitally. Ctrl-C stops everything it started.

The pooled mailbox is a local Gmail stand-in (``shared.devmail``), watched into
``gmail-push`` like the real one. The pipeline's time is a file (``TAOPS_CLOCK_FILE``,
``shared.clock``) every function reads: absent, the real time. While it runs, a second
terminal drives it through the state file it writes (``.taops/dev.json``, removed at
stop): ``taops dev mail FILE`` (a customer mail arrives), ``taops dev clock ISO|now`` (the
pipeline's time) and ``taops dev tick JOB`` (what Cloud Scheduler publishes).
"""

from shared.dev.drive import post_mail, publish_tick, set_clock
from shared.dev.examples import deel_body
from shared.dev.pipeline import DASHBOARD, HTTP, PUSH, run, start
from shared.dev.state import PROJECT, NotRunningError

__all__ = [
    "DASHBOARD",
    "HTTP",
    "PROJECT",
    "PUSH",
    "NotRunningError",
    "deel_body",
    "post_mail",
    "publish_tick",
    "run",
    "set_clock",
    "start",
]
