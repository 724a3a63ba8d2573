"""uvicorn's httptools protocol with the limits a port open to anyone needs.

uvicorn bounds the idle time between keep-alive requests, and its ``limit_concurrency``
answers 503 once a request's headers have arrived. Nothing bounds how long a client may
take to send its headers or its body, how large the headers grow (llhttp has no limit),
or how many connections stay open: connections that never finish their headers pile up
until the process runs out of file descriptors and real clients can no longer connect.
This protocol adds those bounds per connection, where a slow client costs no task; one
sweep per server (a few times per timeout) closes the connections past their deadline, so
a request pays for a few attribute writes and no timer of its own:

- a request's headers must be complete within ``header_timeout_s`` of the connection
  opening or of the request's first byte, and fit in ``MAX_HEADER_BYTES`` (else 408 or
  431, and the connection closes);
- while a body arrives, no pause may last longer than ``body_timeout_s`` (the connection
  closes; the app sees its client gone and counts a 408);
- at most ``max_connections`` are open (fewer where the descriptor limit is lower). One
  more closes the connection that has waited longest without a request in progress (idle
  between requests, or still sending its headers): slow senders make room for real
  clients, which send a request at once. With every connection busy, the newcomer gets a
  503 and is closed.

It also sends each response in one write: uvicorn writes the status line and headers on
``http.response.start`` and the body on ``http.response.body``, two system calls and two
TCP segments for every small response (measured: ~2 writes per request under load, several
µs of kernel time each). ``JoinedWrites`` holds the head until the body's first write of
the same loop step, so a response sent whole goes out whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import weakref
from dataclasses import dataclass
from typing import Any, Protocol, cast, runtime_checkable

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from baton.serve.codec import encode_error

MAX_HEADER_BYTES = 64 * 1024  # request line and headers; V2 requests need a few hundred
FD_RESERVE = 128  # descriptors kept for the store, model files, pipes and logs
MIN_CONNECTIONS = 16
TIMED_OUT = "baton.timed_out"  # scope key: the server, not the client, ended the body

LINGER_S = 1.0  # a refused connection stays open this long, reading nothing, then closes
_IDLE, _HEADERS, _BODY, _LINGER = 0, 1, 2, 3
_REASONS = {
    408: b"Request Timeout",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class PortLimits:
    max_connections: int
    header_timeout_s: float
    body_timeout_s: float


@runtime_checkable
class PortOptions(Protocol):
    """What the guard reads of its app's ``options``: ``ServeOptions``, or the router's."""

    @property
    def max_connections(self) -> int: ...
    @property
    def header_timeout_s(self) -> float: ...
    @property
    def body_timeout_s(self) -> float: ...


def port_limits(options: PortOptions) -> PortLimits:
    """The options' limits, with the connection cap lowered to what descriptors allow."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = options.max_connections
    if soft != resource.RLIM_INFINITY:
        cap = min(cap, max(MIN_CONNECTIONS, soft - FD_RESERVE))
    return PortLimits(cap, options.header_timeout_s, options.body_timeout_s)


def raise_descriptor_limit() -> None:
    """Lift the soft descriptor limit to the hard one (as Go's runtime does at start)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):  # refused: keep the soft limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Port:
    """What the connections of one server share: limits, waiting list, the sweep."""

    def __init__(self, limits: PortLimits, state: ServerState) -> None:
        self.limits = limits
        self.state = state
        # connections with no request in progress, longest waiting first (dicts keep order)
        self.waiting: dict[GuardedProtocol, None] = {}
        self.every = min(max(min(limits.header_timeout_s, limits.body_timeout_s) / 4, 0.05), 1.0)
        self.sweeping = False

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        if not self.sweeping:
            self.sweeping = True
            loop.call_later(self.every, self.sweep, loop)

    def sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        for connection in list(self.state.connections):
            if isinstance(connection, GuardedProtocol):
                connection.check(now)
        self.sweeping = False
        if self.state.connections:
            self.watch(loop)


_ports: weakref.WeakKeyDictionary[ServerState, Port] = weakref.WeakKeyDictionary()


def _port_of(config: Config, state: ServerState) -> Port:
    port = _ports.get(state)
    if port is None:
        options = getattr(config.app, "options", None)
        if not isinstance(options, PortOptions):
            raise TypeError("GuardedProtocol serves an app whose options hold its port limits")
        port = _ports[state] = Port(port_limits(options), state)
    return port


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"  # what uvicorn writes before a response starts


class JoinedWrites:
    """A response cycle's view of its connection's transport: the head of the response
    (the cycle's first write, other than a ``100 Continue``) waits for the next write,
    which carries it along, or for the end of the loop step, whichever comes first.
    Everything else passes straight through. (It holds no reference to the cycle: a cycle
    between them would leave every request's objects to the garbage collector.)"""

    __slots__ = ("_head", "_loop", "_transport", "_waiting")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._head: bytes | None = None
        self._waiting = True  # for the head: nothing held yet

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head + data)
        elif self._waiting and data != CONTINUE:
            self._waiting = False
            self._head = data
            self._loop.call_soon(self.flush)  # a body that comes later does not hold it
        else:
            self._transport.write(data)

    def flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedProtocol(HttpToolsProtocol):
    """One connection: its phase, when that phase started, and what it has read."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.port = _port_of(config, server_state)
        self.limits = self.port.limits
        self.waiting = self.port.waiting
        self._phase = _IDLE
        self._since = 0.0  # headers: when the request began; body: the last read
        self._header_bytes = 0
        self._now = 0.0  # the clock when the data being parsed arrived

    # -- uvicorn's callbacks, extended ------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.waiting[self] = None
        self._phase, self._since = _HEADERS, self.loop.time()
        self.port.watch(self.loop)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting.pop(self, None)
        self._phase = _IDLE
        super().connection_lost(exc)

    # Per request this costs one clock read and three small overrides (about 1 us): the
    # phase changes where data arrives, when headers complete and when the response is sent.

    def data_received(self, data: bytes) -> None:
        phase = self._phase
        if phase == _LINGER:
            return  # answered already: what still comes is dropped
        self._now = now = self.loop.time()
        if phase == _IDLE or (phase == _BODY and not self.cycle.more_body):
            # the first bytes of the next request (kept alive, or pipelined behind one)
            self._phase, self._since, self._header_bytes = _HEADERS, now, 0
        super().data_received(data)
        if self._phase == _BODY:
            self._since = now
        elif self._phase == _HEADERS and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(431, f"request headers are larger than {MAX_HEADER_BYTES} bytes")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = JoinedWrites(self.transport, self.loop)  # type: ignore[assignment]
        self.waiting.pop(self, None)
        self._phase, self._since = _BODY, self._now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete:
            self.waiting.pop(self, None)
            self.waiting[self] = None  # waits again, from now
            if not self.cycle.more_body:  # else the rest of a refused body is still coming
                self._phase = _IDLE

    # -- the guard ----------------------------------------------------------------------------

    def _busy(self) -> bool:
        """A request of this connection is with the app (its response not yet sent)."""
        return self.cycle is not None and not self.cycle.response_complete

    def check(self, now: float) -> None:
        """Called by the sweep: close the connection if its phase has run out of time."""
        if self.transport.is_closing() or self._phase == _IDLE:
            return
        if self._phase == _LINGER:
            if now - self._since > LINGER_S:
                self.transport.close()
            return
        if self._phase == _HEADERS:
            # a pipelined request behind one in progress waits for it
            if now - self._since > self.limits.header_timeout_s and not self._busy():
                self._refuse(408, "request headers took too long to arrive")
            return
        if not self.cycle.more_body or now - self._since <= self.limits.body_timeout_s:
            return
        if self.flow.read_paused:  # the app has not read what came: not the client's fault
            self._since = now
            return
        if self._busy():
            cast(dict[str, object], self.cycle.scope)[TIMED_OUT] = True
        self.transport.close()

    def _make_room(self) -> None:
        """Close the connection waiting longest, or this one when none other waits."""
        while self.waiting:
            oldest = next(iter(self.waiting))
            del self.waiting[oldest]
            if oldest is self:  # every other connection has a request in progress
                self._refuse(503, "the server has all the connections it takes: retry shortly")
                return
            if not oldest.transport.is_closing():
                oldest.transport.close()
                return

    def _refuse(self, status: int, message: str) -> None:
        """Answer without the app, then close (only close while a response is in progress)."""
        if self._busy():
            self.transport.close()
            return
        body = encode_error(message)
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        if status == 503:
            head.append(b"retry-after: 1\r\n")
        self.transport.write(b"".join([*head, b"\r\n", body]))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        # Closing now would answer a request still arriving with a reset, which can discard
        # this reply before the client reads it: end our side, drop what comes, close later.
        self.transport.write_eof()
        self.waiting.pop(self, None)
        self._phase, self._since = _LINGER, self.loop.time()
