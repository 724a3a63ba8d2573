"""Run the router: one uvicorn process (uvloop + httptools) behind the server guard.

Like ``baton serve`` (serve/server.py, with the start-up code of serve/listen.py): the
port is bound before anything is said, the router is recorded in the store and listed for
Prometheus (file discovery), then it announces itself once it accepts requests. SIGTERM
(and Ctrl-C) stop taking connections, let the requests in flight finish (up to
``drain_timeout_s``), mark the row stopped and exit 0.

Given an inherited listening socket (``BATON_ROUTER_SOCKET_FD``, as a deployment's keeper
passes it), the router serves on that socket instead of binding one: the keeper holds a
copy, so while a killed router is being replaced the kernel keeps accepting connections
into the backlog, and the next router answers them on the same address.
"""

from __future__ import annotations

import os
import socket

import uvicorn

from baton.config import Settings
from baton.errors import BadInput
from baton.rollout.router_app import RouterApp
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_record import RecordedRouter
from baton.rollout.router_state import Saved
from baton.serve import discovery
from baton.serve.guard import raise_descriptor_limit
from baton.serve.listen import bind, exit_quietly_on_sigterm, guarded_config, run_until_stopped
from baton.serve.ready import ReadyServer
from baton.serve.server import Announce

SOCKET_FD_ENV = "BATON_ROUTER_SOCKET_FD"  # an inherited listening socket to serve on


def uvicorn_config(app: RouterApp, *, loop: str = "uvloop") -> uvicorn.Config:
    """serve's configuration, without uvicorn's Date header (the variants' answers carry
    their own, passed through)."""
    return guarded_config(app, app.options, loop=loop, date_header=False)


def inherited_socket() -> socket.socket | None:
    """The listening socket passed down in ``BATON_ROUTER_SOCKET_FD``, or None."""
    fd = os.environ.pop(SOCKET_FD_ENV, None)
    if fd is None:
        return None
    try:
        sock = socket.socket(fileno=int(fd))
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except (ValueError, OSError) as exc:
        raise BadInput(
            f"{SOCKET_FD_ENV}={fd!r} is not an open socket of this process ({exc}): unset it "
            "and let the router bind --port itself"
        ) from None
    if not listening or sock.type != socket.SOCK_STREAM:
        sock.close()
        raise BadInput(f"{SOCKET_FD_ENV}={fd} is not a listening TCP socket: unset it")
    return sock


def run_router(
    settings: Settings,
    options: RouterOptions,
    *,
    announce: Announce | None = None,
    sock: socket.socket | None = None,
    saved: Saved | None = None,
) -> None:
    """Route until SIGTERM / Ctrl-C (blocking), from ``saved`` (the state file's table,
    ``router_state_file.start``) or else the command line's weights.

    ``serve`` (serve/server.py) does the same steps with the same code; what differs is
    on purpose: one process only (the weights and the in-flight count are one table and one
    counter, which workers would split), no model-folder mode (a router is always recorded
    and listed), and no gRPC front to stop with the HTTP one (``ReadyServer`` suffices)."""
    raise_descriptor_limit()
    sock = sock or inherited_socket() or bind(options)
    port = sock.getsockname()[1]
    exit_quietly_on_sigterm()  # uvicorn drains, then re-raises it
    record = RecordedRouter(settings, options, port, saved)
    target = discovery.register(settings.scrape_targets, options.host, port, [options.model])
    try:
        app = RouterApp(options, recorder=record.changed, saved=saved)
        server = ReadyServer(uvicorn_config(app), lambda: announce(port) if announce else None)
        run_until_stopped(server, sock, "the router")
    finally:
        discovery.unregister(target)
        record.stop()
