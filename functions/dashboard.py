"""``dashboard``: the operations view (design §7) over HTTP. The request is handed to
``shared.dashboard.app`` with the deployed wiring (the configured store and policy, Pub/Sub
for a retried action) and the time; how it admits people comes from the environment
(``TAOPS_DASHBOARD_CLIENT_ID``, or ``TAOPS_DASHBOARD_LOCAL=1`` for a local server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared import bootstrap, clock
from shared.dashboard.app import Settings, handle
from shared.logs import bind

if TYPE_CHECKING:
    import flask


def dashboard(request: flask.Request) -> flask.Response:
    with bind(function="dashboard"):
        return handle(request, bootstrap.cloud("dashboard"), Settings.from_env(), clock.now())
