"""HTTP/2 server connections (RFC 9113), the part gRPC's unary calls use, on the event loop.

Why not grpcio's server: grpc.aio hands every event from C-core's threads to the event loop
through a socket and a poller thread, and each call takes several such hops. Measured on
one core, its server spent about 200 µs of CPU on a call whose handler did nothing: more
than baton's whole REST request. Here a call costs a few frame parses and one write, on
the loop that runs the batcher, so gRPC is no slower than REST.

What it does: prior-knowledge cleartext HTTP/2 (``h2c``, what gRPC's insecure channels
speak); SETTINGS, PING, WINDOW_UPDATE, RST_STREAM, GOAWAY, CONTINUATION and padding; flow
control both ways (a request's bytes count against the connection until its stream is
handed over, so one connection holds at most one window of unfinished bodies; answers wait
for the client's window); HPACK through the ``hpack`` package, with a header block that
leaves the decoder's table as it was decoded only once. No server push, no priorities
(ignored, as the RFC now allows), no HTTP/1.1 upgrade. What the streams mean (gRPC) is the
caller's: it gets each request once its END_STREAM arrives and answers with ``respond``.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from hpack import Decoder, HPACKError

log = logging.getLogger("baton.serve")
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY = range(8)
WINDOW_UPDATE, CONTINUATION = 8, 9
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIORITY_FLAG = 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, COMPRESSION_ERROR = 5, 6, 7, 9
MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535
DEFAULT_FRAME = 16_384
_HEAD = struct.Struct(">IBI")  # length (24 bits) and type, flags, stream id
_U32 = struct.Struct(">I")
_SETTING = struct.Struct(">HI")


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return _HEAD.pack(len(payload) << 8 | kind, flags, stream) + payload


class H2Error(Exception):
    """A connection error: GOAWAY with this code, then close."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


@dataclass(frozen=True)
class Limits:
    max_body: int  # bytes of one request's body; beyond, ``Handler.too_large`` answers
    max_streams: int = 1024  # concurrent requests on one connection
    max_header_list: int = 65_536
    max_frame: int = 1 << 20  # the largest frame a client may send us


class Stream:
    """One request: its headers, its body so far, and what is left of its answer."""

    __slots__ = ("body", "closed", "ended", "headers", "held", "id", "pending", "send_window")

    def __init__(self, sid: int, headers: list[tuple[bytes, bytes]], send_window: int) -> None:
        self.id = sid
        self.headers = headers
        self.body = bytearray()
        self.held = 0  # received bytes not yet given back to the connection's window
        self.send_window = send_window
        self.ended = False  # the client's END_STREAM came
        self.closed = False  # answered, reset, or the connection went
        self.pending: tuple[memoryview, bytes] | None = None  # data waiting for window


class Handler(Protocol):
    """What the connection calls; the gRPC layer implements it."""

    def request(self, conn: Connection, stream: Stream) -> None: ...

    def too_large(self, conn: Connection, stream: Stream) -> None: ...


class Connection(asyncio.Protocol):
    """One client's HTTP/2 connection (one per channel, many calls at once)."""

    def __init__(
        self,
        handler: Handler,
        limits: Limits,
        on_close: Callable[[Connection], None],
    ) -> None:
        self.handler = handler
        self.limits = limits
        self._on_close = on_close
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, Stream] = {}
        self.draining = False  # GOAWAY sent: no new streams
        self._buf = bytearray()
        self._preface = True
        self._continuation: tuple[int, int, bytearray] | None = None
        self._last_id = 0
        self._decoder = Decoder(max_header_list_size=limits.max_header_list)
        self._decoded: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self._stream_window = min(MAX_WINDOW, limits.max_body + DEFAULT_FRAME)
        self._recv_window = min(MAX_WINDOW, max(self._stream_window, 16 << 20))
        self._give_back = 0  # connection window to hand back with the next WINDOW_UPDATE
        self._send_window = DEFAULT_WINDOW
        self._peer_window = DEFAULT_WINDOW
        self._peer_frame = DEFAULT_FRAME
        self._stalled: dict[int, Stream] = {}

    # -- the transport ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        settings = b"".join(
            _SETTING.pack(key, value)
            for key, value in (
                (3, self.limits.max_streams),  # MAX_CONCURRENT_STREAMS
                (4, self._stream_window),  # INITIAL_WINDOW_SIZE
                (5, self.limits.max_frame),  # MAX_FRAME_SIZE
                (6, self.limits.max_header_list),  # MAX_HEADER_LIST_SIZE
            )
        )
        grow = _U32.pack(self._recv_window - DEFAULT_WINDOW)
        self.transport.write(frame(SETTINGS, 0, 0, settings) + frame(WINDOW_UPDATE, 0, 0, grow))

    def connection_lost(self, exc: Exception | None) -> None:
        for stream in self.streams.values():
            stream.closed = True
        self.streams.clear()
        self._stalled.clear()
        self.transport = None
        self._on_close(self)

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        try:
            used = self._frames(buf)
        except H2Error as exc:
            self.close(exc.code, str(exc))
            return
        except Exception:  # a bug here must not leave the connection half-parsed
            log.exception("HTTP/2 connection failed")
            self.close(INTERNAL_ERROR, "internal error; see the server log")
            return
        del buf[:used]
        if self._give_back >= self._recv_window // 4 and self.transport is not None:
            self.transport.write(frame(WINDOW_UPDATE, 0, 0, _U32.pack(self._give_back)))
            self._give_back = 0

    def close(self, code: int = NO_ERROR, text: str = "") -> None:
        """GOAWAY (naming the last stream we took) and close once it is written."""
        if self.transport is not None and not self.transport.is_closing():
            payload = _U32.pack(self._last_id) + _U32.pack(code) + text.encode()[:256]
            self.transport.write(frame(GOAWAY, 0, 0, payload))
            self.transport.close()

    def drain(self) -> None:
        """Take no new streams (GOAWAY); close once the calls in flight are answered."""
        if self.draining or self.transport is None:
            return
        self.draining = True
        payload = _U32.pack(self._last_id) + _U32.pack(NO_ERROR)
        self.transport.write(frame(GOAWAY, 0, 0, payload))
        if not self.streams:
            self.transport.close()

    # -- frames in ------------------------------------------------------------------------

    def _frames(self, buf: bytearray) -> int:
        pos, end = 0, len(buf)
        if self._preface:
            if end < len(PREFACE):
                if not PREFACE.startswith(bytes(buf)):
                    raise H2Error(PROTOCOL_ERROR, "not HTTP/2: gRPC needs an h2c connection")
                return 0
            if buf[: len(PREFACE)] != PREFACE:
                raise H2Error(PROTOCOL_ERROR, "not HTTP/2: gRPC needs an h2c connection")
            self._preface, pos = False, len(PREFACE)
        limit = self.limits.max_frame
        while end - pos >= 9:
            head, flags, sid = _HEAD.unpack_from(buf, pos)
            length = head >> 8
            if length > limit:
                raise H2Error(FRAME_SIZE_ERROR, f"a frame of {length} bytes; at most {limit}")
            if end - pos - 9 < length:
                break
            payload = bytes(buf[pos + 9 : pos + 9 + length])
            pos += 9 + length
            self._frame(head & 0xFF, flags, sid & MAX_WINDOW, payload)
        return pos

    def _frame(self, kind: int, flags: int, sid: int, payload: bytes) -> None:
        if self._continuation is not None:
            self._continued(kind, flags, sid, payload)
        elif kind == DATA:
            self._data(flags, sid, payload)
        elif kind == HEADERS:
            self._headers(flags, sid, payload)
        elif kind == WINDOW_UPDATE:
            self._window_update(sid, payload)
        elif kind == SETTINGS:
            self._settings(flags, sid, payload)
        elif kind == PING:
            if sid or len(payload) != 8:
                raise H2Error(PROTOCOL_ERROR, "a PING is 8 bytes on stream 0")
            if not flags & ACK and self.transport is not None:
                self.transport.write(frame(PING, ACK, 0, payload))
        elif kind == RST_STREAM:
            self._reset(sid, payload)
        elif kind == PRIORITY:
            if not sid or len(payload) != 5:
                raise H2Error(PROTOCOL_ERROR, "a PRIORITY frame is 5 bytes on a stream")
        elif kind in (PUSH_PROMISE, CONTINUATION):
            raise H2Error(PROTOCOL_ERROR, f"unexpected frame type {kind}")
        # GOAWAY: the client opens no more streams and closes when it is done; others: ignored

    def _data(self, flags: int, sid: int, payload: bytes) -> None:
        if not sid:
            raise H2Error(PROTOCOL_ERROR, "DATA on stream 0")
        size = len(payload)
        self._recv_window -= size
        if self._recv_window < 0:
            raise H2Error(FLOW_CONTROL_ERROR, "DATA beyond the connection's window")
        stream = self.streams.get(sid)
        if stream is None or stream.ended or stream.closed:
            if sid > self._last_id:
                raise H2Error(PROTOCOL_ERROR, f"DATA on idle stream {sid}")
            self._release(size)  # an answered or reset stream: its bytes are dropped
            return
        stream.held += size
        if flags & PADDED:
            payload = _unpad(payload)
        stream.body += payload
        if len(stream.body) > self.limits.max_body:
            self.handler.too_large(self, stream)  # answers, which ends the stream
            return
        if flags & END_STREAM:
            self._ended(stream)

    def _headers(self, flags: int, sid: int, payload: bytes) -> None:
        if not sid or not sid % 2:
            raise H2Error(PROTOCOL_ERROR, f"a client opens odd-numbered streams, not {sid}")
        if flags & PADDED:
            payload = _unpad(payload)
        if flags & PRIORITY_FLAG:
            payload = payload[5:]
        if flags & END_HEADERS:
            self._header_block(flags, sid, payload)
        else:
            self._continuation = (sid, flags, bytearray(payload))

    def _continued(self, kind: int, flags: int, sid: int, payload: bytes) -> None:
        assert self._continuation is not None
        first, first_flags, block = self._continuation
        if kind != CONTINUATION or sid != first:
            raise H2Error(PROTOCOL_ERROR, "a header block must continue with CONTINUATION")
        block += payload
        if len(block) > self.limits.max_header_list:
            raise H2Error(PROTOCOL_ERROR, "the header block is too large")
        if flags & END_HEADERS:
            self._continuation = None
            self._header_block(first_flags, sid, bytes(block))

    def _header_block(self, flags: int, sid: int, block: bytes) -> None:
        headers = self._decode(block)  # always: the decoder's table must follow the client's
        stream = self.streams.get(sid)
        if stream is not None:  # trailers: they end the request
            if not flags & END_STREAM:
                raise H2Error(PROTOCOL_ERROR, "trailers must end the stream")
            if not stream.ended and not stream.closed:
                self._ended(stream)
            return
        if sid <= self._last_id:
            raise H2Error(STREAM_CLOSED, f"HEADERS on closed stream {sid}")
        self._last_id = sid
        if self.draining or len(self.streams) >= self.limits.max_streams:
            self._write(frame(RST_STREAM, 0, sid, _U32.pack(REFUSED_STREAM)))
            return
        stream = Stream(sid, headers, self._peer_window)
        self.streams[sid] = stream
        if flags & END_STREAM:
            self._ended(stream)

    def _decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        """HPACK; a block that leaves the dynamic table as it was decodes the same while
        the table stays so, and is kept (clients send the same headers call after call)."""
        known = self._decoded.get(block)
        if known is not None:
            return known
        table = self._decoder.header_table
        entries = table.dynamic_entries
        before = (len(entries), entries[0] if entries else None, table.maxsize)
        try:
            headers = cast(list[tuple[bytes, bytes]], self._decoder.decode(block, raw=True))
        except HPACKError as exc:
            raise H2Error(COMPRESSION_ERROR, f"bad header block: {exc}") from None
        if before == (len(entries), entries[0] if entries else None, table.maxsize):
            if len(self._decoded) >= 64:
                self._decoded.clear()
            self._decoded[block] = headers
        else:  # the table moved: what was kept may now decode differently
            self._decoded.clear()
        return headers

    def _ended(self, stream: Stream) -> None:
        stream.ended = True
        self._release(stream.held)  # the body is the handler's now
        stream.held = 0
        self.handler.request(self, stream)

    def _release(self, size: int) -> None:
        self._recv_window += size
        self._give_back += size

    def _window_update(self, sid: int, payload: bytes) -> None:
        if len(payload) != 4:
            raise H2Error(FRAME_SIZE_ERROR, "a WINDOW_UPDATE is 4 bytes")
        grow = _U32.unpack(payload)[0] & MAX_WINDOW
        if not sid:
            if not grow:
                raise H2Error(PROTOCOL_ERROR, "a WINDOW_UPDATE of 0")
            self._send_window += grow
            if self._send_window > MAX_WINDOW:
                raise H2Error(FLOW_CONTROL_ERROR, "the connection's window overflowed")
            self._flush()
            return
        stream = self.streams.get(sid)
        if stream is not None:
            stream.send_window += grow
            if stream.send_window > MAX_WINDOW:
                raise H2Error(FLOW_CONTROL_ERROR, f"stream {sid}'s window overflowed")
            self._flush()

    def _settings(self, flags: int, sid: int, payload: bytes) -> None:
        if sid or len(payload) % 6:
            raise H2Error(PROTOCOL_ERROR, "SETTINGS are 6-byte entries on stream 0")
        if flags & ACK:
            return
        for offset in range(0, len(payload), 6):
            key, value = _SETTING.unpack_from(payload, offset)
            if key == 4:  # INITIAL_WINDOW_SIZE: every open stream's window moves with it
                if value > MAX_WINDOW:
                    raise H2Error(FLOW_CONTROL_ERROR, "INITIAL_WINDOW_SIZE above 2^31-1")
                for stream in self.streams.values():
                    stream.send_window += value - self._peer_window
                self._peer_window = value
            elif key == 5:
                if not DEFAULT_FRAME <= value < 1 << 24:
                    raise H2Error(PROTOCOL_ERROR, f"MAX_FRAME_SIZE {value} out of range")
                self._peer_frame = value
        self._write(frame(SETTINGS, ACK, 0))
        self._flush()

    def _reset(self, sid: int, payload: bytes) -> None:
        if not sid or len(payload) != 4:
            raise H2Error(PROTOCOL_ERROR, "RST_STREAM is 4 bytes on a stream")
        stream = self.streams.get(sid)
        if stream is not None:  # the client gave up: its answer, when it comes, is dropped
            stream.closed = True
            self._release(stream.held)
            stream.held = 0
            self._stalled.pop(sid, None)
            if not stream.ended:  # else it counts until its handler is done (respond), so
                del self.streams[sid]  # resetting calls cannot pile up work unbounded
                self._closed_one()

    # -- frames out -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def respond(self, stream: Stream, head: bytes, data: bytes, trailers: bytes) -> None:
        """HEADERS ``head``, then ``data`` as DATA within the client's windows, then the
        ``trailers`` block ending the stream (``data`` empty and ``head`` empty: one
        HEADERS block, ``trailers``, as gRPC's trailers-only answers)."""
        if stream.closed or self.transport is None:
            if self.streams.pop(stream.id, None) is not None:  # reset while it ran
                self._closed_one()
            return
        size = len(data)
        if size <= self._send_window and size <= stream.send_window and size <= self._peer_frame:
            self._send_window -= size
            stream.send_window -= size
            parts = [frame(HEADERS, END_HEADERS, stream.id, head)] if head else []
            if data:
                parts.append(frame(DATA, 0, stream.id, data))
            parts.append(frame(HEADERS, END_HEADERS | END_STREAM, stream.id, trailers))
            self.transport.write(b"".join(parts))
            self.finish(stream)
            return
        if head:
            self.transport.write(frame(HEADERS, END_HEADERS, stream.id, head))
        stream.pending = (memoryview(data), trailers)
        self._stalled[stream.id] = stream
        self._flush()

    def _flush(self) -> None:
        """Send what waited for window, as far as the windows now allow."""
        for stream in list(self._stalled.values()):
            if self._send_window <= 0 or self.transport is None:
                return
            assert stream.pending is not None
            data, trailers = stream.pending
            while data and self._send_window > 0 and stream.send_window > 0:
                n = min(len(data), self._send_window, stream.send_window, self._peer_frame)
                self.transport.write(frame(DATA, 0, stream.id, bytes(data[:n])))
                data = data[n:]
                self._send_window -= n
                stream.send_window -= n
            if data:
                stream.pending = (data, trailers)
                continue
            del self._stalled[stream.id]
            self.transport.write(frame(HEADERS, END_HEADERS | END_STREAM, stream.id, trailers))
            self.finish(stream)

    def finish(self, stream: Stream) -> None:
        """The stream is answered (or refused): forget it, and stop the client sending
        more of a body we will not read (RST_STREAM NO_ERROR, as RFC 9113 8.1 allows)."""
        if not stream.ended:
            self._write(frame(RST_STREAM, 0, stream.id, _U32.pack(NO_ERROR)))
            self._release(stream.held)
            stream.held = 0
        stream.closed = True
        stream.pending = None
        if self.streams.pop(stream.id, None) is not None:
            self._closed_one()

    def _closed_one(self) -> None:
        if self.draining and not self.streams and self.transport is not None:
            self.transport.close()


def _unpad(payload: bytes) -> bytes:
    if not payload or payload[0] >= len(payload):
        raise H2Error(PROTOCOL_ERROR, "padding longer than the frame")
    return payload[1 : len(payload) - payload[0]]
