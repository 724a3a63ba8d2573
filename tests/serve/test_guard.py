"""The port's limits on a real server: header and body timeouts, header size, connections."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
from tests.serve.conftest import LiveServer, Start, v2_input
from tests.serve.test_app import wait_for_metric

from baton.serve.guard import CONTINUE, MAX_HEADER_BYTES, JoinedWrites
from baton.store.store import Store

SLOW_HEAD = b"POST /v2/models/toy/infer HTTP/1.1\r\nHost: x\r\n"  # headers never finished
INFER = {"inputs": [v2_input([0.5, -1.0, 2.0, 0.25])]}


def address(live: LiveServer) -> tuple[str, int]:
    host, port = live.url.removeprefix("http://").split(":")
    return host, int(port)


def answer(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def response(sock: socket.socket, timeout: float = 10.0) -> bytes:
    """One whole response (headers and a Content-Length body), the connection kept."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recv(1, socket.MSG_PEEK)  # readable: the end of the stream (or a reply)
    except BlockingIOError:
        return False
    except ConnectionResetError:
        pass
    return True


def median_latency(client: httpx.Client, requests: int = 10) -> float:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        assert client.post("/v2/models/toy/infer", json=INFER).is_success
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def slow_clients(live: LiveServer, count: int) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        socks = []
        for _ in range(count):
            sock = stack.enter_context(socket.create_connection(address(live)))
            sock.sendall(SLOW_HEAD)
            socks.append(sock)
        yield socks


def test_headers_that_never_finish_get_408_and_the_connection_closes(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", header_timeout_s=0.3)
    with socket.create_connection(address(live)) as silent, slow_clients(live, 1) as (slow,):
        started = time.monotonic()
        for sock in (silent, slow):
            reply = answer(sock)
            assert reply.startswith(b"HTTP/1.1 408 "), reply
            assert b"request headers took too long" in reply
        assert time.monotonic() - started < 5
    assert live.client.post("/v2/models/toy/infer", json=INFER).is_success


def test_a_kept_alive_connection_gets_the_header_timeout_on_each_request(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", header_timeout_s=0.3)
    with socket.create_connection(address(live)) as sock:
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(10)
        assert response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /v2/health/live HTTP/1.1\r\n")  # and then nothing
        assert answer(sock).startswith(b"HTTP/1.1 408 ")


def test_endless_headers_get_431(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy")
    lines = b"".join(b"X-Pad-%08d: %16d\r\n" % (i, i) for i in range(MAX_HEADER_BYTES // 32 + 8))
    with socket.create_connection(address(live)) as sock:
        sock.sendall(SLOW_HEAD + lines)  # more than the limit, and no end of headers
        reply = answer(sock)
    assert reply.startswith(b"HTTP/1.1 431 "), reply
    assert live.client.get("/v2/health/live").is_success


def test_a_body_that_stops_coming_is_closed_and_counted_408(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", body_timeout_s=0.3)
    with socket.create_connection(address(live)) as sock:
        sock.sendall(SLOW_HEAD + b'Content-Length: 5000\r\n\r\n{"inputs": [')
        assert answer(sock) == b""  # no one reads an answer to a half-sent request
    text = wait_for_metric(live, 'baton_requests_total{code="408",model="toy",version="1"} 1.0')
    assert 'code="499"' not in text
    assert 'code="5' not in text


def test_a_body_that_keeps_coming_is_never_cut(toy_store: Store, live_server: Start) -> None:
    """The body timeout is the longest pause, not the time the whole upload takes."""
    live = live_server("toy", body_timeout_s=0.5)
    body = (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [1,2,3,4]}]}'
    )
    with socket.create_connection(address(live)) as sock:
        sock.sendall(SLOW_HEAD + b"Content-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), len(body) // 5 + 1):  # 1.25 s in all: 2.5 timeouts
            time.sleep(0.25)  # a slow client's pace, not a wait for the server
            sock.sendall(body[i : i + len(body) // 5 + 1])
        sock.settimeout(10)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_slow_clients_beyond_the_connection_limit_make_room_for_real_ones(
    toy_store: Store, live_server: Start
) -> None:
    """Connections that never finish their headers are closed, oldest first, as clients
    arrive; real clients (a new connection per request) keep their usual latency."""
    live = live_server("toy", max_connections=20, header_timeout_s=60)
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=live.url, timeout=10, limits=limits) as fresh:
        before = median_latency(fresh)
        with slow_clients(live, 100) as slow:
            during = median_latency(fresh)
            still_open = [s for s in slow if not closed_by_server(s)]
    assert len(still_open) < 20  # the server never held more than its limit
    assert slow[0] not in still_open  # the oldest went first
    assert slow[-1] in still_open
    assert during < 5 * before + 0.05, (before, during)


def test_when_every_connection_is_busy_a_newcomer_gets_503(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", max_connections=2)
    runtime = live.app.runtime
    assert runtime is not None
    with ExitStack() as stack:
        for _ in range(2):  # two requests in progress: their bodies are still coming
            busy = stack.enter_context(socket.create_connection(address(live)))
            busy.sendall(SLOW_HEAD + b"Content-Length: 5000\r\n\r\n{")
        inflight = b'baton_inflight_requests{model="toy",version="1"} 2.0'
        deadline = time.monotonic() + 10
        while inflight not in runtime.metrics.exposition():  # not over HTTP: no connection
            assert time.monotonic() < deadline
            time.sleep(0.02)
        newcomer = stack.enter_context(socket.create_connection(address(live)))
        newcomer.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = answer(newcomer)
    assert reply.startswith(b"HTTP/1.1 503 "), reply
    assert b"retry-after: 1" in reply
    assert live.client.get("/v2/health/live").is_success


class Recording:
    """Stands in for a connection's transport: what was written, one entry a write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return f"extra {name}"


def test_a_response_goes_out_in_one_write() -> None:
    """uvicorn writes the head and the body apart: two system calls and two segments."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        sent = Recording()
        joined = JoinedWrites(sent, loop)  # type: ignore[arg-type]
        joined.write(CONTINUE)  # before the response starts: never held
        assert sent.writes == [CONTINUE]
        joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
        joined.write(b"body")
        assert sent.writes == [CONTINUE, b"HTTP/1.1 200 OK\r\n\r\nbody"]
        joined.write(b"more")  # a streamed body's later parts pass straight through
        assert sent.writes[-1] == b"more"
        await asyncio.sleep(0)
        assert len(sent.writes) == 3  # nothing left behind
        assert joined.get_extra_info("peername") == "extra peername"

        late = Recording()  # a body that comes in a later loop step does not hold the head
        joined = JoinedWrites(late, loop)  # type: ignore[arg-type]
        joined.write(b"head")
        assert late.writes == []
        await asyncio.sleep(0)
        assert late.writes == [b"head"]
        joined.write(b"body")
        assert late.writes == [b"head", b"body"]

        closing = Recording()  # closing sends what is held first
        joined = JoinedWrites(closing, loop)  # type: ignore[arg-type]
        joined.write(b"head")
        joined.close()
        assert closing.writes == [b"head"]
        assert closing.closed and joined.is_closing()
        await asyncio.sleep(0)
        assert closing.writes == [b"head"]

    asyncio.run(main())
