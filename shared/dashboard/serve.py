"""The operations view on this machine (``taops dashboard``, ``taops demo --serve``): the
same handler as the deployed ``dashboard`` function, served open on 127.0.0.1 only (the
handler refuses any other address too), acting as one person of the directory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from shared.bootstrap import Context
from shared.dashboard.app import Settings, handle

if TYPE_CHECKING:
    import flask
    from werkzeug.serving import BaseWSGIServer

HOST = "127.0.0.1"


def local_app(ctx: Context, acting_as: str | None, clock: Callable[[], datetime]) -> flask.Flask:
    """A Flask app answering every path with the dashboard's handler, in local mode."""
    import flask

    settings = Settings(local=True, acting_as=acting_as)
    app = flask.Flask("taops-dashboard")

    def every(path: str = "") -> flask.Response:
        return handle(flask.request, ctx, settings, clock())

    app.add_url_rule("/", "root", every, methods=["GET", "POST"])
    app.add_url_rule("/<path:path>", "path", every, methods=["GET", "POST"])
    return app


def start(
    ctx: Context, *, port: int = 0, acting_as: str | None = None, clock: Callable[[], datetime]
) -> BaseWSGIServer:
    """Serve in a background thread on 127.0.0.1 (``port`` 0: a free one); the caller
    stops it with ``shutdown()``."""
    from werkzeug.serving import make_server

    server = make_server(HOST, port, local_app(ctx, acting_as, clock), threaded=True)
    threading.Thread(target=server.serve_forever, name="taops-dashboard", daemon=True).start()
    return server


def url(server: BaseWSGIServer) -> str:
    return f"http://{HOST}:{server.server_port}/"


def serve_forever(
    ctx: Context,
    *,
    port: int,
    acting_as: str | None,
    clock: Callable[[], datetime],
    say: Callable[[str], None],
) -> int:
    """Serve until Ctrl-C, saying where."""
    try:
        server = start(ctx, port=port, acting_as=acting_as, clock=clock)
    except OSError as exc:
        say(f"taops dashboard: cannot listen on {HOST}:{port}: {exc.strerror or exc}")
        return 1
    from shared.dashboard.auth import local_viewer

    viewer = local_viewer(ctx.store, acting_as)
    say(f"dashboard on {url(server)} (open on {HOST} only, acting as {viewer.email}, {viewer.role_name})")
    say("Ctrl-C stops it")
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    say("stopped")
    return 0
