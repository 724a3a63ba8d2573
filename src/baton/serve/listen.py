"""Serving a guarded port until SIGTERM: what ``baton serve`` and ``baton router`` share.

Both bind their port first (``server.bind``), run uvicorn over it with the port guard's
limits (serve/guard.py) and no WebSockets, let SIGTERM drain the requests in flight and
then exit 0, and turn a start-up that never served into one ``Unavailable`` line. The
differences stay with the callers: the server may run several workers, the router sends
no Date header of its own (the variants' answers carry theirs).
"""

from __future__ import annotations

import math
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

import uvicorn

from baton.errors import Unavailable
from baton.serve.guard import GuardedProtocol


class GuardedPort(Protocol):
    """What the configuration reads of ``ServeOptions`` or the router's options."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def drain_timeout_s(self) -> float: ...


def guarded_config(
    app: Callable[..., Any],
    options: GuardedPort,
    *,
    loop: str = "uvloop",
    workers: int | None = None,
    date_header: bool = True,
) -> uvicorn.Config:
    """uvicorn (httptools) with the port's limits, draining for ``drain_timeout_s``."""
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
        date_header=date_header,
        proxy_headers=False,  # nothing here reads the client's address: one layer less a request
        workers=workers,
    )


def exit_quietly_on_sigterm() -> None:
    """uvicorn re-raises the signal it caught after draining; exit 0 then, not 143."""
    signal.signal(signal.SIGTERM, _exit_quietly)


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def run_until_stopped(server: uvicorn.Server, sock: socket.socket, what: str) -> None:
    """Serve on ``sock`` until SIGTERM / Ctrl-C; ``what`` ("the server") names it in the
    error when it never started (uvicorn has logged why)."""
    try:
        server.run(sockets=[sock])
    except SystemExit as exc:  # a failed start-up (logged above), or SIGTERM: exit 0
        if exc.code == 0 or server.started:
            raise
    if not server.started:
        raise Unavailable(f"{what} did not start: see the messages above")
