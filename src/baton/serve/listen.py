"""Serving a guarded port until SIGTERM: what ``baton serve`` and ``baton router`` share.

Both bind their port before anything says it serves (``bind``), run uvicorn over it with
the port guard's limits (serve/guard.py) and no WebSockets, let SIGTERM drain the requests
in flight and then exit 0, and turn a start-up that never served into one ``Unavailable``
line. The differences stay with the callers: the server may run several workers, the
router sends no Date header of its own (the variants' answers carry theirs).
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
from baton.serve.ports import describe_holder


class Listening(Protocol):
    """What ``bind`` reads: ``ServeOptions``, or the router's options."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...


def bind(options: Listening) -> socket.socket:
    """The listening address, taken before anything says it serves (a taken port names
    the process holding it where the OS lets us read that). With several workers, each
    worker listens on its own socket (``WorkerSocket``)."""
    family = socket.AF_INET6 if ":" in options.host else socket.AF_INET
    address = (options.host, options.port)
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)  # without SO_REUSEPORT: fails if anything else holds the port
        workers = getattr(options, "workers", 1)  # the router's options have none: one
        if workers > 1 and hasattr(socket, "SO_REUSEPORT"):
            address = sock.getsockname()[:2]
            sock.close()
            sock = WorkerSocket(family)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
    except OSError as exc:
        sock.close()
        holder = describe_holder(options.port) if options.port else None
        raise Unavailable(
            f"cannot listen on {options.host}:{options.port} ({exc.strerror})"
            + (f": {holder}" if holder else "")
            + "; stop it or pick a free port with --port"
        ) from None
    sock.set_inheritable(True)
    return sock


class WorkerSocket(socket.socket):
    """The parent's hold on the port under ``--workers``: bound with SO_REUSEPORT and never
    listening. Handed to a worker (pickled, as uvicorn hands its sockets) it becomes a new
    socket bound the same way, which that worker alone listens on: the kernel then spreads
    connections evenly over the workers, where one shared socket gave whichever worker
    woke first most of them (measured: 6 of 32 keep-alive connections against 26)."""

    def __reduce__(self) -> tuple[object, tuple[int, str, int]]:
        host, port = self.getsockname()[:2]
        return _reuse_port_socket, (int(self.family), host, port)


def _reuse_port_socket(family: int, host: str, port: int) -> socket.socket:
    sock = socket.socket(family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class GuardedPort(Listening, Protocol):
    """What the configuration reads of ``ServeOptions`` or the router's options."""

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
