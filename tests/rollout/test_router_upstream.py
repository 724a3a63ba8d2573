"""The router's upstream client against real servers on loopback that behave, or not."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from baton.rollout.router_options import Address
from baton.rollout.router_upstream import HIGH_WATER, IDLE_S, Upstream, UpstreamError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
GET = b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n"


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


class Server:
    """A loopback server whose connections run ``handler``; counts the connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Upstream:
        self.server = await asyncio.start_server(self._connected, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return Upstream(Address("127.0.0.1", port), timeout_s=0.3)

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _answer_each(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await writer.drain()


async def _whole(upstream: Upstream) -> tuple[int, bytes]:
    return await upstream.get(GET, 5)


def test_connections_are_kept_alive_and_reused() -> None:
    async def main() -> None:
        server = Server(_answer_each)
        async with server as upstream:
            for _ in range(5):
                assert await _whole(upstream) == (200, b"ok")
            assert server.connections == 1
            assert len(upstream.idle) == 1 and not upstream.busy

    run(main())


def test_a_connection_closed_as_it_is_taken_is_retried_on_a_new_one() -> None:
    """The server answers once and then closes without a word on the next request: the
    request it never read goes again, once, on a fresh connection."""

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the next request: closed unanswered

    async def main() -> None:
        server = Server(once)
        async with server as upstream:
            assert await _whole(upstream) == (200, b"ok")
            assert await _whole(upstream) == (200, b"ok")
            assert server.connections == 2

    run(main())


def test_an_idle_connection_too_old_is_not_reused() -> None:
    async def main() -> None:
        server = Server(_answer_each)
        async with server as upstream:
            await _whole(upstream)
            upstream.idle[0].idle_since -= IDLE_S + 1
            await _whole(upstream)
            assert server.connections == 2

    run(main())


@pytest.mark.parametrize(
    ("reply", "reason", "message"),
    [
        (None, "timeout", "did not answer within 0.3 s"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "bad_response", "not HTTP/1.1"),
        (b"", "reset", "closed the connection before its whole answer"),
    ],
)
def test_failures_have_a_reason(reply: bytes | None, reason: str, message: str) -> None:
    async def misbehave(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if reply is None:
            await asyncio.sleep(10)
        writer.write(reply)
        await writer.drain()

    async def main() -> None:
        async with Server(misbehave) as upstream:
            with pytest.raises(UpstreamError, match=message) as caught:
                await upstream.exchange(GET, b"")
            assert caught.value.reason == reason
            assert not upstream.busy and not upstream.idle

    run(main())


def test_a_server_that_is_down_is_a_connect_failure() -> None:
    async def main() -> None:
        async with Server(_answer_each) as upstream:
            pass  # closed: nothing listens on its port any more
        with pytest.raises(UpstreamError, match="takes no connection") as caught:
            await upstream.exchange(GET, b"")
        assert caught.value.reason == "connect"

    run(main())


def test_an_answer_cut_short_fails_after_its_head() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart")
        await writer.drain()

    async def main() -> None:
        async with Server(cut) as upstream:
            connection = await upstream.exchange(GET, b"")
            assert connection.status == 200 and connection.take() == b"part"
            with pytest.raises(UpstreamError) as caught:
                await connection.more()
            assert caught.value.reason == "reset"

    run(main())


def test_a_large_answer_waits_for_its_reader() -> None:
    """Reading pauses once HIGH_WATER bytes wait for a slow client, and goes on as they go."""
    size = 8 * HIGH_WATER

    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size)
        writer.write(b"x" * size)
        await writer.drain()
        await reader.read()

    async def main() -> None:
        async with Server(big) as upstream:
            connection = await upstream.exchange(GET, b"")
            assert connection.status == 200  # the interim 100 is skipped
            while not connection._reading_paused:
                await asyncio.sleep(0.01)
            assert connection.buffered <= HIGH_WATER + 256 * 1024
            got = len(connection.take())
            while not connection.complete:
                await connection.more()
                got += len(connection.take())
            assert got == size
            upstream.release(connection)
            assert upstream.idle == [connection]
            upstream.close()  # retired: its idle connections close
            assert upstream.idle == [] and connection.closed

    run(main())


def test_a_retired_pool_closes_connections_as_they_come_back() -> None:
    async def main() -> None:
        async with Server(_answer_each) as upstream:
            connection = await upstream.exchange(GET, b"")
            upstream.close()
            while not connection.complete:
                await connection.more()
            upstream.release(connection)
            assert connection.closed and upstream.idle == []

    run(main())
