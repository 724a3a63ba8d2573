"""uvicorn's httptools protocol with the limits a port open to anyone needs.

uvicorn bounds the idle time between keep-alive requests, and its ``limit_concurrency``
answers 503 once a request's headers have arrived. Nothing bounds how long a client may
take to send its headers or its body, how large the headers grow (llhttp has no limit),
or how many connections stay open: connections that never finish their headers pile up
until the process runs out of file descriptors and real clients can no longer connect.
This protocol adds those bounds per connection, where a slow client costs a timer and no
task:

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
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import weakref
from dataclasses import dataclass
from typing import Any, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from baton.serve.codec import encode_error
from baton.serve.options import ServeOptions

MAX_HEADER_BYTES = 64 * 1024  # request line and headers; V2 requests need a few hundred
FD_RESERVE = 128  # descriptors kept for the store, model files, pipes and logs
MIN_CONNECTIONS = 16
TIMED_OUT = "baton.timed_out"  # scope key: the server, not the client, ended the body

_IDLE, _HEADERS, _BODY = 0, 1, 2
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


def port_limits(options: ServeOptions) -> PortLimits:
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


_limits: weakref.WeakKeyDictionary[Config, PortLimits] = weakref.WeakKeyDictionary()
_waiting: weakref.WeakKeyDictionary[ServerState, dict[GuardedProtocol, None]] = (
    weakref.WeakKeyDictionary()
)


def _limits_of(config: Config) -> PortLimits:
    limits = _limits.get(config)
    if limits is None:
        options = getattr(config.app, "options", None)
        if not isinstance(options, ServeOptions):
            raise TypeError("GuardedProtocol serves an app with ServeOptions (ServeApp)")
        limits = _limits[config] = port_limits(options)
    return limits


class GuardedProtocol(HttpToolsProtocol):
    """One connection; the timers and the shared waiting list are all it adds."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = _limits_of(config)
        # connections with no request in progress, longest waiting first (dicts keep order)
        self.waiting = _waiting.setdefault(server_state, {})
        self._timer: asyncio.TimerHandle | None = None
        self._phase = _IDLE
        self._header_bytes = 0
        self._last_read = 0.0

    # -- uvicorn's callbacks, extended ------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.waiting[self] = None
        self._arm(self.limits.header_timeout_s, _HEADERS)
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self.waiting.pop(self, None)
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase == _BODY:
            self._last_read = self.loop.time()
        elif self._phase == _HEADERS and not self.transport.is_closing():
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES:
                self._refuse(431, f"request headers are larger than {MAX_HEADER_BYTES} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != _HEADERS:  # a later request on a kept-alive connection
            self._header_bytes = 0
            self._arm(self.limits.header_timeout_s, _HEADERS)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self.waiting.pop(self, None)
        self._last_read = self.loop.time()
        self._arm(self.limits.body_timeout_s, _BODY)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.cycle.response_complete:
            self.waiting.pop(self, None)
            self.waiting[self] = None  # waits again, from now

    # -- the guard ----------------------------------------------------------------------------

    def _arm(self, delay: float, phase: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._phase = phase
        self._timer = self.loop.call_later(delay, self._expired)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._phase = _IDLE

    def _busy(self) -> bool:
        """A request of this connection is with the app (its response not yet sent)."""
        return self.cycle is not None and not self.cycle.response_complete

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._phase == _HEADERS:
            if self._busy():  # a pipelined request behind one in progress: wait for it
                self._timer = self.loop.call_later(self.limits.header_timeout_s, self._expired)
            else:
                self._refuse(408, "request headers took too long to arrive")
            return
        quiet = self.loop.time() - self._last_read
        if quiet < self.limits.body_timeout_s or self.flow.read_paused:
            # data came meanwhile, or the app has not read what came: not the client's fault
            self._timer = self.loop.call_later(
                max(self.limits.body_timeout_s - quiet, 0.1), self._expired
            )
            return
        if self._busy():
            cast(dict[str, Any], self.cycle.scope)[TIMED_OUT] = True
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
        """Answer without the app and close (only closes while a response is in progress)."""
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
        self.transport.close()
