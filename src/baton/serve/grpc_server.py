"""The gRPC listener beside the HTTP one: started and stopped by the app's lifespan.

It runs on the same event loop as uvicorn (grpc.aio), so REST and gRPC requests meet in
the same per-model queues. On SIGTERM it stops taking calls at once (new ones get
``UNAVAILABLE`` and clients move to another replica) and gives the calls in flight up to
``--drain-timeout`` before the models' queues drain and the process exits. With several
workers each binds the port with SO_REUSEPORT and the kernel spreads connections.
"""

from __future__ import annotations

import asyncio
import socket

import grpc

from baton.errors import Unavailable
from baton.serve.app import Runtime
from baton.serve.grpc_service import V2Service
from baton.serve.options import ServeOptions
from baton.serve.ports import describe_holder


def check_free(host: str, port: int) -> None:
    """Fail in one line before anything is announced when the gRPC port is taken."""
    if port == 0:
        return
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        holder = describe_holder(port)
        raise Unavailable(
            f"cannot listen for gRPC on {host}:{port} ({exc.strerror})"
            + (f": {holder}" if holder else "")
            + "; stop it or pick a free port with --grpc-port"
        ) from None
    finally:
        sock.close()


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcFront:
    """One gRPC server for one process's runtime."""

    def __init__(self, runtime: Runtime, options: ServeOptions) -> None:
        self.options = options
        self.port: int | None = None
        self._stopping: asyncio.Future[None] | None = None
        limit = options.max_body_bytes
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 1),
            ]
        )
        service = V2Service(
            runtime, draining=lambda: self._stopping is not None, admin_token=options.admin_token
        )
        self._server.add_generic_rpc_handlers((service.handler(),))

    async def start(self) -> int:
        """Bind and serve; the bound port (``--grpc-port 0``: any free one)."""
        assert self.options.grpc_port is not None
        address = _address(self.options.host, self.options.grpc_port)
        try:
            self.port = self._server.add_insecure_port(address)
        except RuntimeError:
            raise Unavailable(
                f"cannot listen for gRPC on {address}: pick a free port with --grpc-port"
            ) from None
        await self._server.start()
        return self.port

    def drain(self) -> asyncio.Future[None]:
        """Stop taking calls now and let those in flight finish (idempotent)."""
        if self._stopping is None:
            grace = self.options.drain_timeout_s
            self._stopping = asyncio.ensure_future(self._server.stop(grace))
        return self._stopping
