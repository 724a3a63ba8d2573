"""Run the router: one uvicorn process (uvloop + httptools) behind the server guard.

Like ``baton serve`` (serve/server.py): the port is bound before anything is said, the
router is recorded in the store and listed for Prometheus (file discovery), then it
announces itself once it accepts requests. SIGTERM (and Ctrl-C) stop taking connections,
let the requests in flight finish (up to ``drain_timeout_s``), mark the row stopped and
exit 0.
"""

from __future__ import annotations

import math
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

import uvicorn

from baton.config import Settings
from baton.errors import Unavailable
from baton.rollout.router_app import RouterApp
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_record import RecordedRouter
from baton.serve import discovery
from baton.serve.guard import GuardedProtocol, raise_descriptor_limit
from baton.serve.server import AnnouncingServer, bind

Announce = Callable[[int], None]  # called with the bound port once the router serves


def uvicorn_config(app: RouterApp, *, loop: str = "uvloop") -> uvicorn.Config:
    """serve's configuration, without uvicorn's Date header (the variants' answers carry
    their own, passed through)."""
    options = app.options
    return uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        loop=loop,
        http=GuardedProtocol,
        ws="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=math.ceil(options.drain_timeout_s),
        timeout_keep_alive=30,
        server_header=False,
        date_header=False,
        proxy_headers=False,  # the client address as the socket says it (no work per request)
    )


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def run_router(
    settings: Settings,
    options: RouterOptions,
    *,
    announce: Announce | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Route until SIGTERM / Ctrl-C (blocking)."""
    raise_descriptor_limit()
    sock = sock or bind(options)
    port = sock.getsockname()[1]
    signal.signal(signal.SIGTERM, _exit_quietly)  # uvicorn drains, then re-raises it
    record = RecordedRouter(settings, options, port)
    target = discovery.register(settings.scrape_targets, options.host, port, [options.model])
    try:
        app = RouterApp(options, recorder=record.changed)
        server = AnnouncingServer(uvicorn_config(app), lambda: announce(port) if announce else None)
        try:
            server.run(sockets=[sock])
        except SystemExit as exc:
            if exc.code == 0 or server.started:
                raise
        if not server.started:
            raise Unavailable("the router did not start: see the messages above")
    finally:
        discovery.unregister(target)
        record.stop()
