"""baton's HTTP/2 server connection against a client that writes raw frames: settings and
pings, flow control both ways, CONTINUATION and padding, the body limit, refused streams,
protocol errors, drain, and HPACK blocks that change the client's table."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hpack import Decoder, Encoder

from baton.serve import h2
from baton.serve.h2 import Connection, Limits, Stream, frame

REQUEST = [(":method", "POST"), (":scheme", "http"), (":path", "/echo"), (":authority", "t")]


@dataclass
class Echo:
    """Answers each request with its body, or holds it until ``release`` is set."""

    seen: list[list[tuple[bytes, bytes]]] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)
    hold: asyncio.Event | None = None

    def request(self, conn: Connection, stream: Stream) -> None:
        self.seen.append(list(stream.headers))
        if self.hold is None:
            conn.respond(stream, b"\x88", bytes(stream.body), b"\x00\x01x\x01y")
            return

        async def later() -> None:
            assert self.hold is not None
            await self.hold.wait()
            conn.respond(stream, b"\x88", bytes(stream.body), b"\x00\x01x\x01y")

        asyncio.get_running_loop().create_task(later())

    def too_large(self, conn: Connection, stream: Stream) -> None:
        self.refused.append(stream.id)
        conn.respond(stream, b"", b"", b"\x88")


Frame = tuple[int, int, int, bytes]


class Client:
    """Raw frames over a real socket, and a reader that parses what comes back."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.encoder = Encoder()

    def send(self, *frames: bytes) -> None:
        self.writer.write(b"".join(frames))

    def headers(self, sid: int, flags: int = h2.END_HEADERS, extra: tuple = ()) -> bytes:
        return frame(h2.HEADERS, flags, sid, self.encoder.encode(REQUEST + list(extra)))

    async def next(self, timeout: float = 10) -> Frame:
        head = await asyncio.wait_for(self.reader.readexactly(9), timeout)
        length_type, flags, sid = struct.unpack(">IBI", head)
        payload = await asyncio.wait_for(self.reader.readexactly(length_type >> 8), timeout)
        return length_type & 0xFF, flags, sid & h2.MAX_WINDOW, payload

    async def until(self, kind: int, sid: int | None = None) -> list[Frame]:
        """Every frame up to and including the first of ``kind`` (on ``sid``)."""
        got = []
        while True:
            f = await self.next()
            got.append(f)
            if f[0] == kind and (sid is None or f[2] == sid):
                return got

    async def closed(self) -> bool:
        return await asyncio.wait_for(self.reader.read(), 10) is not None


Body = Callable[[Client, Echo, list[Connection]], Awaitable[None]]


def run(body: Body, limits: Limits | None = None, handler: Echo | None = None) -> None:
    """Serve on a free port, connect one client that sends the preface, run ``body``."""

    async def main() -> None:
        echo = handler or Echo()
        conns: list[Connection] = []

        def made() -> Connection:
            conn = Connection(echo, limits or Limits(max_body=1000), lambda c: None)
            conns.append(conn)
            return conn

        server = await asyncio.get_running_loop().create_server(made, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = Client(reader, writer)
        client.send(h2.PREFACE, frame(h2.SETTINGS, 0, 0))
        try:
            await body(client, echo, conns)
        finally:
            writer.close()
            server.close()

    asyncio.run(main())


def settings(**values: int) -> bytes:
    keys = {"window": 4, "frame": 5}
    payload = b"".join(struct.pack(">HI", keys[k], v) for k, v in values.items())
    return frame(h2.SETTINGS, 0, 0, payload)


def test_the_server_greets_acks_settings_and_pings_and_answers_a_request() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        kind, _, _, payload = await client.next()
        assert kind == h2.SETTINGS
        announced = dict(struct.iter_unpack(">HI", payload))
        assert announced[4] >= 1000  # a whole body fits the stream's window
        assert (await client.next())[0] == h2.WINDOW_UPDATE
        assert (await client.next())[:2] == (h2.SETTINGS, h2.ACK)
        client.send(frame(h2.PING, 0, 0, b"12345678"))
        assert await client.next() == (h2.PING, h2.ACK, 0, b"12345678")
        client.send(client.headers(1), frame(h2.DATA, h2.END_STREAM, 1, b"hello"))
        got = await client.until(h2.HEADERS, 1)
        got += await client.until(h2.HEADERS, 1)
        assert [(k, f, s) for k, f, s, _ in got] == [
            (h2.HEADERS, h2.END_HEADERS, 1),
            (h2.DATA, 0, 1),
            (h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, 1),
        ]
        assert got[1][3] == b"hello"
        assert Decoder().decode(got[0][3]) == [(":status", "200")]
        assert (b":path", b"/echo") in echo.seen[0]
        assert not conns[0].streams  # answered: forgotten

    run(body)


def test_an_answer_waits_for_the_clients_window_and_resumes_on_window_update() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        client.send(settings(window=10))
        await client.until(h2.SETTINGS)  # the server's own
        payload = bytes(range(100))
        client.send(client.headers(1), frame(h2.DATA, h2.END_STREAM, 1, payload))
        got = await client.until(h2.DATA, 1)
        assert got[-1][3] == payload[:10]  # the stream's window, no more
        client.send(frame(h2.WINDOW_UPDATE, 0, 1, struct.pack(">I", 50)))
        assert (await client.until(h2.DATA, 1))[-1][3] == payload[10:60]
        client.send(frame(h2.WINDOW_UPDATE, 0, 1, struct.pack(">I", 100)))
        rest = await client.until(h2.HEADERS, 1)
        assert rest[0][3] == payload[60:]
        assert rest[-1][1] & h2.END_STREAM

    run(body)


def test_a_settings_change_of_window_moves_streams_already_open() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        client.send(settings(window=0))
        await client.until(h2.SETTINGS)
        client.send(client.headers(1), frame(h2.DATA, h2.END_STREAM, 1, b"abc"))
        await client.until(h2.HEADERS, 1)  # the answer's head; its data waits
        client.send(settings(window=3))
        rest = await client.until(h2.HEADERS, 1)
        assert [f[3] for f in rest if f[0] == h2.DATA] == [b"abc"]

    run(body)


def test_continuation_padding_and_priority_are_read() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        block = client.encoder.encode([*REQUEST, ("x-long", "v" * 300)])
        first = b"\x02" + b"\x00" * 5 + block[:100] + b"\x00\x00"  # padded, with priority
        client.send(
            frame(h2.HEADERS, h2.PADDED | h2.PRIORITY_FLAG, 1, first),
            frame(h2.CONTINUATION, 0, 1, block[100:200]),
            frame(h2.CONTINUATION, h2.END_HEADERS, 1, block[200:]),
            frame(h2.PRIORITY, 0, 1, b"\x00" * 5),
            frame(h2.DATA, h2.PADDED | h2.END_STREAM, 1, b"\x03abc\x00\x00\x00"),
        )
        got = await client.until(h2.DATA, 1)
        assert got[-1][3] == b"abc"
        assert (b"x-long", b"v" * 300) in echo.seen[0]

    run(body)


def test_a_body_over_the_limit_is_refused_and_its_stream_reset() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        client.send(client.headers(1), frame(h2.DATA, 0, 1, b"x" * 600))
        client.send(frame(h2.DATA, 0, 1, b"x" * 600))
        got = await client.until(h2.RST_STREAM, 1)
        assert got[-1][3] == struct.pack(">I", h2.NO_ERROR)
        assert echo.refused == [1]
        client.send(frame(h2.DATA, h2.END_STREAM, 1, b"late"))  # dropped, window given back
        client.send(client.headers(3), frame(h2.DATA, h2.END_STREAM, 3, b"ok"))
        assert (await client.until(h2.DATA, 3))[-1][3] == b"ok"

    run(body)


def test_streams_beyond_the_cap_are_refused_and_the_others_carry_on() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        client.send(client.headers(1), client.headers(3))
        got = await client.until(h2.RST_STREAM, 3)
        assert got[-1][3] == struct.pack(">I", h2.REFUSED_STREAM)
        client.send(frame(h2.DATA, h2.END_STREAM, 1, b"one"))
        assert (await client.until(h2.DATA, 1))[-1][3] == b"one"

    run(body, Limits(max_body=1000, max_streams=1))


def test_a_reset_stream_is_dropped_and_its_answer_never_sent() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        client.send(client.headers(1), frame(h2.DATA, h2.END_STREAM, 1, b"gone"))
        client.send(frame(h2.RST_STREAM, 0, 1, struct.pack(">I", 8)))
        client.send(client.headers(3), frame(h2.DATA, h2.END_STREAM, 3, b"kept"))
        await client.until(h2.SETTINGS, 0)
        assert echo.hold is not None
        echo.hold.set()
        got = await client.until(h2.DATA, 3)
        assert [f[3] for f in got if f[0] == h2.DATA] == [b"kept"]

    run(body, handler=Echo(hold=asyncio.Event()))


def goaway_code(frames: list[Frame]) -> int:
    return int(struct.unpack(">II", frames[-1][3][:8])[1])


def test_protocol_errors_end_the_connection_with_goaway() -> None:
    cases = [
        (frame(h2.DATA, 0, 0, b"x"), h2.PROTOCOL_ERROR),
        (frame(h2.HEADERS, h2.END_HEADERS, 2, b""), h2.PROTOCOL_ERROR),
        (frame(h2.PING, 0, 0, b"short"), h2.PROTOCOL_ERROR),
        (frame(h2.WINDOW_UPDATE, 0, 0, struct.pack(">I", h2.MAX_WINDOW)), h2.FLOW_CONTROL_ERROR),
        (frame(h2.HEADERS, h2.END_HEADERS, 1, b"\xff\xff\xff\xff"), h2.COMPRESSION_ERROR),
        (frame(h2.DATA, 0, 9, b"x"), h2.PROTOCOL_ERROR),  # a stream never opened
        (frame(h2.DATA, 0, 1, b"x" * 300), h2.FRAME_SIZE_ERROR),  # above the 200 announced
    ]
    for bad, code in cases:

        async def body(
            client: Client, echo: Echo, conns: list[Connection], bad: bytes = bad, code: int = code
        ) -> None:
            client.send(bad)
            got = await client.until(h2.GOAWAY)
            assert goaway_code(got) == code, bad
            assert await client.closed()

        run(body, Limits(max_body=1000, max_frame=200))


def test_a_client_that_is_not_http2_is_closed() -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(
            lambda: Connection(Echo(), Limits(max_body=10), lambda c: None), "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await asyncio.wait_for(reader.read(), 10)
        assert data[3] == h2.SETTINGS  # its greeting, then GOAWAY and the end
        writer.close()
        server.close()

    asyncio.run(main())


def test_drain_sends_goaway_finishes_the_calls_in_flight_and_refuses_new_ones() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        client.send(client.headers(1), frame(h2.DATA, h2.END_STREAM, 1, b"inflight"))
        await client.until(h2.SETTINGS, 0)
        while not echo.seen:
            await asyncio.sleep(0.01)
        conns[0].drain()
        got = await client.until(h2.GOAWAY)
        assert struct.unpack(">II", got[-1][3][:8]) == (1, h2.NO_ERROR)  # stream 1 goes on
        client.send(client.headers(3, h2.END_HEADERS | h2.END_STREAM))
        assert (await client.until(h2.RST_STREAM, 3))[-1][3] == struct.pack(">I", h2.REFUSED_STREAM)
        assert echo.hold is not None
        echo.hold.set()
        assert (await client.until(h2.DATA, 1))[-1][3] == b"inflight"
        assert await client.closed()  # the last call answered: the connection closes

    run(body, handler=Echo(hold=asyncio.Event()))


def test_header_blocks_that_change_the_table_decode_right_every_time() -> None:
    """The decoder keeps blocks that leave HPACK's table alone; once a block adds an entry,
    the same bytes kept before (here: "the newest entry", index 62) mean other headers."""
    base = b"\x83\x86\x04\x05/echo"  # :method POST, :scheme http, :path /echo

    def adds(value: bytes) -> bytes:  # x-n: VALUE, with incremental indexing
        return base + b"\x40\x03x-n" + bytes((len(value),)) + value

    newest = base + b"\xbe"  # indexed field 62
    blocks = [adds(b"a"), newest, newest, adds(b"b"), newest, newest, adds(b"c"), newest]

    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        for n, block in enumerate(blocks):
            sid = 2 * n + 1
            client.send(frame(h2.HEADERS, h2.END_HEADERS, sid, block))
            client.send(frame(h2.DATA, h2.END_STREAM, sid, b"x"))
            await client.until(h2.DATA, sid)
        got = [dict(headers)[b"x-n"] for headers in echo.seen]
        assert got == [b"a", b"a", b"a", b"b", b"b", b"b", b"c", b"c"]

    run(body)


def test_a_call_reset_while_it_runs_counts_against_the_cap_until_it_is_done() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        client.send(client.headers(1), frame(h2.DATA, h2.END_STREAM, 1, b"one"))
        client.send(frame(h2.RST_STREAM, 0, 1, struct.pack(">I", 8)))
        client.send(client.headers(3, h2.END_HEADERS | h2.END_STREAM))
        refused = (await client.until(h2.RST_STREAM, 3))[-1][3]
        assert refused == struct.pack(">I", h2.REFUSED_STREAM)  # 1 still runs
        assert echo.hold is not None
        echo.hold.set()
        while conns[0].streams:
            await asyncio.sleep(0.01)
        client.send(client.headers(5), frame(h2.DATA, h2.END_STREAM, 5, b"five"))
        got = await client.until(h2.DATA, 5)
        assert [f[3] for f in got if f[0] == h2.DATA] == [b"five"]  # 1's answer never sent

    run(body, Limits(max_body=1000, max_streams=1), Echo(hold=asyncio.Event()))


class Broken(Echo):
    def request(self, conn: Connection, stream: Stream) -> None:
        raise RuntimeError("a bug")


def test_a_bug_in_a_handler_ends_the_connection_with_internal_error() -> None:
    async def body(client: Client, echo: Echo, conns: list[Connection]) -> None:
        client.send(client.headers(1, h2.END_HEADERS | h2.END_STREAM))
        got = await client.until(h2.GOAWAY)
        assert goaway_code(got) == h2.INTERNAL_ERROR
        assert await client.closed()

    run(body, handler=Broken())
