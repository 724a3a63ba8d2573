"""Keep-alive HTTP/1.1 connections from the router to one variant's server.

A general-purpose client (httpx, aiohttp) costs 100-300 µs a request in Python; the router
may add at most 0.3 ms in all. This one is an asyncio protocol over httptools' response
parser (llhttp, the parser uvicorn uses on the other side): a request is one write, the
response's callbacks fill the connection's fields, and one future per request wakes the
handler when the head has come (most small responses arrive whole in one read). Idle
connections wait in a last-in-first-out list; a connection idle longer than ``IDLE_S``
(below ``baton serve``'s 30 s keep-alive, so the server never closes one as it is taken) is
closed instead of reused. One timer per pool, not per request, ends exchanges that have
waited longer than the timeout (the server guard's sweep, serve/guard.py, does the same).

Failures raise ``UpstreamError`` with a reason, the label the router's metrics count:
``connect`` (no connection: nothing was sent, so the request may go elsewhere), ``reset``
(the connection closed before the whole response), ``timeout``, ``bad_response``.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Literal, cast

import httptools

from baton.rollout.router_options import Address

Reason = Literal["connect", "reset", "timeout", "bad_response"]
IDLE_S = 10.0  # a pooled connection idle longer is closed, not reused
MAX_IDLE = 256  # idle connections kept per server; beyond, released ones close
HIGH_WATER = 256 * 1024  # response bytes held for a slow client before reading pauses
CONNECT_TIMEOUT_S = 5.0
INLINE_BODY = 64 * 1024  # bodies up to this go in one write with the head


class UpstreamError(Exception):
    """An exchange with a variant's server failed; ``reason`` is the metric label."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason: Reason = reason


class Connection(asyncio.Protocol):
    """One connection, one exchange at a time: the request written, the response parsed."""

    def __init__(self, pool: Upstream) -> None:
        self.pool = pool
        self.loop = pool.loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._write_paused: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.answered = False  # any byte of a response came
        self.error: UpstreamError | None = None
        self.since = self.loop.time()  # the exchange's last sign of life
        self._waiter: asyncio.Future[None] | None = None

    # -- the exchange, as the router drives it ------------------------------------------------

    def send(self, data: bytes) -> None:
        """Write (part of) the request; the first call starts an exchange."""
        assert self.transport is not None
        self.since = self.loop.time()
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the server reads slower than the client sends."""
        if self._write_paused is not None:
            await self._write_paused
        if self.error is not None:
            raise self.error

    async def head(self) -> None:
        """Wait for the response's status and headers."""
        if not self.headers_done and self.error is None:
            self._waiter = self.loop.create_future()
            await self._waiter
        if self.error is not None:
            raise self.error

    def take(self) -> bytes:
        """The body bytes that have come (possibly none), handed over once."""
        chunks = self.chunks
        self.chunks = []
        self.buffered = 0
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def more(self) -> None:
        """Wait until more of the body has come, or all of it."""
        if not self.chunks and not self.complete and self.error is None:
            self._waiter = self.loop.create_future()
            await self._waiter
        if self.error is not None and not self.chunks:
            raise self.error

    def abandon(self) -> None:
        """The exchange will not finish (the client left, or failed): close, never reuse."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        self.pool.busy.discard(self)

    # -- asyncio's callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if not self.complete and self.error is None:
            self.fail("reset", "closed the connection before its whole answer")
        if self._write_paused is not None and not self._write_paused.done():
            self._write_paused.set_result(None)

    def pause_writing(self) -> None:
        if self._write_paused is None:
            self._write_paused = self.loop.create_future()

    def resume_writing(self) -> None:
        paused, self._write_paused = self._write_paused, None
        if paused is not None and not paused.done():
            paused.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.answered = True
        self.since = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.fail("bad_response", f"sent an answer that is not HTTP/1.1 ({exc})")
            self.abandon()

    def eof_received(self) -> bool | None:
        return None  # close: a server never half-closes a kept-alive connection

    # -- httptools' callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue): the real one follows
            self.headers = []
            return
        self.status = status
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self._reading_paused and self.transport:
            self._reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.headers_done:
            return  # the end of an interim answer
        self.complete = True
        # read here: once the parser has returned, it is set for the next message
        self.keep_alive = self.parser.should_keep_alive()
        self._wake()

    def fail(self, reason: Reason, what: str) -> None:
        if self.error is None:
            self.error = UpstreamError(reason, f"{self.pool.address.url} {what}")
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)


def _send(connection: Connection, head: bytes, body: bytes) -> None:
    if len(body) <= INLINE_BODY:
        connection.send(head + body if body else head)
    else:  # no copy of a large body just to join it to the head
        connection.send(head)
        connection.send(body)


class Upstream:
    """The connection pool to one server (one per variant URL, on the router's loop)."""

    def __init__(self, address: Address, timeout_s: float) -> None:
        self.address = address
        self.host = address.url.removeprefix("http://").encode()  # the Host header's value
        self.timeout_s = timeout_s
        self.loop = asyncio.get_running_loop()
        self.idle: list[Connection] = []
        self.busy: set[Connection] = set()
        self.retired = False  # no longer routed to: connections close as they come back
        self._sweeping = False

    async def exchange(self, head: bytes, body: bytes) -> Connection:
        """Send a request whose body is all here; return once the answer's head has come.

        A kept-alive connection the server closed in the instant it was taken fails with
        no answer at all: then the request, which the server never read, is sent once more
        on a new connection."""
        connection, reused = await self.acquire()
        try:
            _send(connection, head, body)
            await connection.head()
            return connection
        except UpstreamError as exc:
            connection.abandon()
            if not (reused and exc.reason == "reset" and not connection.answered):
                raise
        except BaseException:
            connection.abandon()
            raise
        connection, _ = await self.acquire(fresh=True)
        try:
            _send(connection, head, body)
            await connection.head()
        except BaseException:
            connection.abandon()
            raise
        return connection

    async def get(self, head: bytes, timeout_s: float) -> tuple[int, bytes]:
        """A small exchange whole (a readiness probe): status and body, within ``timeout_s``."""

        async def whole() -> tuple[int, bytes]:
            connection = await self.exchange(head, b"")
            parts = []
            try:
                while not connection.complete:
                    parts.append(connection.take())
                    await connection.more()
            except BaseException:
                connection.abandon()
                raise
            parts.append(connection.take())
            self.release(connection)
            return connection.status, b"".join(parts)

        return await asyncio.wait_for(whole(), timeout_s)

    async def acquire(self, *, fresh: bool = False) -> tuple[Connection, bool]:
        """A connection for one exchange, and whether it was used before."""
        now = self.loop.time()
        while self.idle and not fresh:
            connection = self.idle.pop()
            if connection.closed:
                continue
            if now - connection.idle_since > IDLE_S:
                connection.abandon()
                continue
            connection._reset()
            self._start(connection)
            return connection, True
        connection = await self._connect()
        self._start(connection)
        return connection, False

    def release(self, connection: Connection) -> None:
        """The exchange is over: keep the connection for the next one if it can serve it."""
        self.busy.discard(connection)
        reusable = (
            connection.complete
            and not connection.closed
            and not self.retired
            and len(self.idle) < MAX_IDLE
            and connection.keep_alive
        )
        if not reusable:
            connection.abandon()
            return
        connection.idle_since = self.loop.time()
        self.idle.append(connection)

    def forget(self, connection: Connection) -> None:
        """A connection closed (by either side): it is no longer pooled."""
        self.busy.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)

    def close(self) -> None:
        """Stop routing here: idle connections close now, busy ones when their exchange ends."""
        self.retired = True
        for connection in self.idle:
            connection.abandon()
        self.idle.clear()

    async def _connect(self) -> Connection:
        try:
            transport, connection = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: Connection(self), self.address.host, self.address.port
                ),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:
            why = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise UpstreamError(
                "connect", f"{self.address.url} takes no connection ({why})"
            ) from None
        # uvloop may return before it has called connection_made
        connection.transport = transport
        return connection

    def _start(self, connection: Connection) -> None:
        self.busy.add(connection)
        if not self._sweeping:
            self._sweeping = True
            self.loop.call_later(self._every(), self._sweep)

    def _every(self) -> float:
        return min(max(self.timeout_s / 4, 0.05), 1.0)

    def _sweep(self) -> None:
        """Fail the exchanges that have waited longer than the timeout for their server."""
        now = self.loop.time()
        for connection in list(self.busy):
            waiting = not connection.complete and not connection._reading_paused
            if waiting and now - connection.since > self.timeout_s:
                connection.fail("timeout", f"did not answer within {self.timeout_s:g} s")
                connection.abandon()
        self._sweeping = False
        if self.busy:
            self._sweeping = True
            self.loop.call_later(self._every(), self._sweep)
