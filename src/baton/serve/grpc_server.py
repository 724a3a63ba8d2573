"""The gRPC listener beside the HTTP one: started and stopped by the app's lifespan.

gRPC's calls travel over baton's own HTTP/2 connections (``h2``) on uvicorn's event loop,
so REST and gRPC requests meet in the same per-model queues, and a call costs no more than
a REST request (grpcio's server hands each call across threads several times; see ``h2``).
This module is the gRPC part of the wire: the path names the call, the body is one
length-prefixed message (gzip and deflate are read; answers go uncompressed), and the
status travels in the trailers (a failed call is one trailers-only HEADERS block). A
call's ``grpc-timeout`` is its client's to enforce: the client resets the stream when it
gives up, and the answer is dropped.

On SIGTERM it stops listening at once (new connections are refused: UNAVAILABLE, and
clients move to another replica), sends GOAWAY on every connection, and gives the calls in
flight up to ``--drain-timeout`` before the models' queues drain and the process exits.
With several workers each binds the port with SO_REUSEPORT and the kernel spreads
connections.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import zlib
from urllib.parse import quote

from google.protobuf.message import Message

from baton.errors import Unavailable
from baton.serve.app import Runtime
from baton.serve.grpc_service import (
    SERVICE,
    Call,
    Failed,
    Metadata,
    Status,
    Trailers,
    V2Service,
    answer,
)
from baton.serve.h2 import Connection, Limits, Stream
from baton.serve.options import ServeOptions
from baton.serve.ports import describe_holder

_PREFIX = struct.Struct(">BI")  # a gRPC message: compressed flag, length
_PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F) if c != 0x25)  # grpc-message's
_WBITS = {b"gzip": 31, b"deflate": 15}  # gRPC's "deflate" is zlib's format
_SKIP = {b"te", b"user-agent", b"grpc-accept-encoding", b"grpc-timeout", b"content-type"}


def _integer(value: int, bits: int, first: int = 0) -> bytes:
    """HPACK's integer with a ``bits``-bit prefix (RFC 7541 5.1)."""
    limit = (1 << bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = [first | limit]
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def literal(name: bytes, value: bytes) -> bytes:
    """A header field literal without indexing: our answers never touch HPACK's table."""
    return b"\x00" + _integer(len(name), 7) + name + _integer(len(value), 7) + value


def status_line(code: int) -> bytes:
    """``:status`` (static table entry 8 for 200, its name otherwise)."""
    return b"\x88" if code == 200 else _integer(8, 4) + _integer(3, 7) + str(code).encode()


HEAD_OK = status_line(200) + literal(b"content-type", b"application/grpc")
TRAILERS_OK = literal(b"grpc-status", b"0")


def trailers_only(code: int, text: str, extra: Trailers = (), http: int = 200) -> bytes:
    """A whole failed answer in one header block: status, message, trailing metadata."""
    block = status_line(http) + literal(b"content-type", b"application/grpc")
    block += literal(b"grpc-status", str(code).encode())
    message = quote(text[:2000], safe=_PRINTABLE, encoding="utf-8")
    block += literal(b"grpc-message", message.encode("ascii"))
    return block + b"".join(literal(k.encode(), v.encode()) for k, v in extra)


Head = tuple[bytes, bytes, bytes, bytes, Metadata]  # path, method, content-type, encoding


class GrpcCalls:
    """Turns each finished HTTP/2 request into one V2 call and its answer."""

    def __init__(self, service: V2Service, max_message: int) -> None:
        self._calls = service.calls()
        self.max_message = max_message
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen: tuple[list[tuple[bytes, bytes]], Head] | None = None

    def _head(self, headers: list[tuple[bytes, bytes]]) -> Head:
        seen = self._seen  # the connection hands back the same list for the same block
        if seen is not None and seen[0] is headers:
            return seen[1]
        path = method = ctype = encoding = b""
        metadata: Metadata = []
        for name, value in headers:
            if name == b":path":
                path = value
            elif name == b":method":
                method = value
            elif name == b"content-type":
                ctype = value
            elif name == b"grpc-encoding":
                encoding = value
            elif name[:1] != b":" and name not in _SKIP:
                metadata.append((name, value))
        head = (path, method, ctype, encoding, metadata)
        self._seen = (headers, head)
        return head

    def request(self, conn: Connection, stream: Stream) -> None:
        path, method, ctype, encoding, metadata = self._head(stream.headers)
        try:
            if method != b"POST" or not ctype.startswith(b"application/grpc"):
                text = "gRPC calls are POSTs with content-type application/grpc"
                raise Failed(Status.INTERNAL, text, http=415 if method == b"POST" else 405)
            found = self._calls.get(path)
            if found is None:
                name = path.decode("latin-1")[:200]
                raise Failed(Status.UNIMPLEMENTED, f"no method {name} here: see {SERVICE}")
            message = self._message(stream.body, encoding)
        except Failed as failed:
            conn.respond(stream, b"", b"", _failure(failed))
            return
        kind, call = found
        task = asyncio.get_running_loop().create_task(
            self._run(conn, stream, kind, call, message, metadata)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _message(self, body: bytearray, encoding: bytes) -> memoryview | bytes:
        """The one request message of a unary call, decompressed when it came so."""
        if len(body) < 5:
            raise Failed(Status.INVALID_ARGUMENT, "the call carries no request message")
        compressed, length = _PREFIX.unpack_from(body)
        if length > self.max_message:
            raise Failed(Status.RESOURCE_EXHAUSTED, self._larger(length))
        if length + 5 != len(body):
            raise Failed(Status.INVALID_ARGUMENT, "a unary call carries exactly one message")
        message = memoryview(body)[5:]
        if not compressed:
            return message
        wbits = _WBITS.get(encoding)
        if wbits is None:
            text = f"messages compressed as {encoding[:40]!r} cannot be read: use gzip"
            raise Failed(Status.UNIMPLEMENTED, text, (("grpc-accept-encoding", "gzip,deflate"),))
        inflate = zlib.decompressobj(wbits)
        try:
            plain = inflate.decompress(message, self.max_message + 1)
        except zlib.error:
            raise Failed(Status.INTERNAL, f"the message is not valid {encoding!r}") from None
        if len(plain) > self.max_message:
            raise Failed(Status.RESOURCE_EXHAUSTED, self._larger(len(plain)))
        return plain

    def _larger(self, size: int) -> str:
        return (
            f"Received message larger than max ({size} vs. {self.max_message}): send smaller "
            "requests or start the server with a larger --max-body-bytes"
        )

    def too_large(self, conn: Connection, stream: Stream) -> None:
        body = stream.body
        size = _PREFIX.unpack_from(body)[1] if len(body) >= 5 else len(body)
        failed = Failed(Status.RESOURCE_EXHAUSTED, self._larger(max(size, len(body) - 5)))
        conn.respond(stream, b"", b"", _failure(failed))

    async def _run(
        self,
        conn: Connection,
        stream: Stream,
        kind: type[Message],
        call: Call,
        message: memoryview | bytes,
        metadata: Metadata,
    ) -> None:
        try:
            data = await answer(kind, call, message, metadata)
        except Failed as failed:
            conn.respond(stream, b"", b"", _failure(failed))
            return
        conn.respond(stream, HEAD_OK, _PREFIX.pack(0, len(data)) + data, TRAILERS_OK)


def _failure(failed: Failed) -> bytes:
    return trailers_only(failed.code, failed.text, failed.trailers, failed.http)


class TooMany:
    """A connection over ``--max-connections``: each call on it is UNAVAILABLE (the client
    retries later or elsewhere), and GOAWAY closes it once they are answered."""

    def __init__(self, cap: int) -> None:
        text = f"this server holds its {cap} connections at most: retry shortly or elsewhere"
        self._answer = trailers_only(Status.UNAVAILABLE, text, (("retry-after", "1"),))

    def request(self, conn: Connection, stream: Stream) -> None:
        conn.respond(stream, b"", b"", self._answer)
        conn.drain()

    def too_large(self, conn: Connection, stream: Stream) -> None:
        self.request(conn, stream)


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


class GrpcFront:
    """One gRPC listener for one process's runtime, and its connections."""

    def __init__(self, runtime: Runtime, options: ServeOptions) -> None:
        self.options = options
        self.port: int | None = None
        self._stopping: asyncio.Future[None] | None = None
        service = V2Service(
            runtime, draining=lambda: self._stopping is not None, admin_token=options.admin_token
        )
        self._calls = GrpcCalls(service, options.max_body_bytes)
        self._too_many = TooMany(options.max_connections)
        self._limits = Limits(max_body=options.max_body_bytes + 5)
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._gone = asyncio.Event()  # set when draining and the last connection closed

    def _connection(self) -> Connection:
        full = len(self._connections) >= self.options.max_connections
        conn = Connection(self._too_many if full else self._calls, self._limits, self._closed)
        self._connections.add(conn)
        return conn

    def _closed(self, conn: Connection) -> None:
        self._connections.discard(conn)
        if self._stopping is not None and not self._connections:
            self._gone.set()

    async def start(self) -> int:
        """Bind and serve; the bound port (``--grpc-port 0``: any free one)."""
        assert self.options.grpc_port is not None
        host, port = self.options.host, self.options.grpc_port
        try:
            self._server = await asyncio.get_running_loop().create_server(
                self._connection, host, port, reuse_port=True, backlog=2048
            )
        except OSError as exc:
            raise Unavailable(
                f"cannot listen for gRPC on {host}:{port} ({exc.strerror}): pick a free port "
                "with --grpc-port"
            ) from None
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def drain(self) -> asyncio.Future[None]:
        """Stop taking calls now and let those in flight finish (idempotent)."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._drain())
        return self._stopping

    async def _drain(self) -> None:
        if self._server is not None:
            self._server.close()  # new connections are refused from now on
        for conn in list(self._connections):
            conn.drain()
        if self._connections:
            try:
                await asyncio.wait_for(self._gone.wait(), self.options.drain_timeout_s)
            except TimeoutError:
                for conn in list(self._connections):
                    conn.close()
