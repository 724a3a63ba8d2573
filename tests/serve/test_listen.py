"""The start-up ``baton serve`` and ``baton router`` share: the guarded uvicorn
configuration, SIGTERM as exit 0, and a start-up that never served as one line."""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from tests.serve.conftest import free_socket

from baton.errors import Unavailable
from baton.serve.asgi import Receive, Scope, Send, run_lifespan
from baton.serve.guard import GuardedProtocol
from baton.serve.listen import exit_quietly_on_sigterm, guarded_config, run_until_stopped


@dataclass(frozen=True)
class PortOptions:
    host: str = "127.0.0.1"
    port: int = 0
    drain_timeout_s: float = 2.2
    max_connections: int = 64
    header_timeout_s: float = 5.0
    body_timeout_s: float = 5.0


class TinyApp:
    """Answers every request with 204; ``fail`` makes its start-up fail."""

    def __init__(self, *, fail: bool = False) -> None:
        self.options = PortOptions()  # the guard reads the port limits here
        self.fail = fail

    async def start(self) -> None:
        if self.fail:
            raise Unavailable("no model")

    async def stop(self) -> None:
        pass

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await run_lifespan(receive, send, self.start, self.stop)
        elif scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def test_the_configuration_puts_the_guard_on_the_port_and_drains_whole_seconds() -> None:
    config = guarded_config(TinyApp(), PortOptions(port=8123), loop="asyncio")
    assert (config.host, config.port, config.loop) == ("127.0.0.1", 8123, "asyncio")
    assert config.http is GuardedProtocol and config.ws == "none" and config.lifespan == "on"
    assert config.timeout_graceful_shutdown == 3  # 2.2 s rounded up
    assert (config.server_header, config.proxy_headers, config.access_log) == (False, False, False)
    assert config.date_header and config.workers == 1
    router_like = guarded_config(TinyApp(), PortOptions(), workers=4, date_header=False)
    assert (router_like.workers, router_like.date_header) == (4, False)


def test_a_start_up_that_never_served_is_one_line_naming_what() -> None:
    sock = free_socket()
    server = uvicorn.Server(guarded_config(TinyApp(fail=True), PortOptions(), loop="asyncio"))
    with pytest.raises(Unavailable, match="^the test app did not start: see the messages above$"):
        run_until_stopped(server, sock, "the test app")
    sock.close()


def test_a_server_stopped_after_it_served_returns_quietly() -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(guarded_config(TinyApp(), PortOptions(port=port), loop="asyncio"))
    answers: list[int] = []

    def ask_then_stop() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.02)
        answers.append(httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code)
        server.should_exit = True

    asker = threading.Thread(target=ask_then_stop, daemon=True)
    asker.start()
    run_until_stopped(server, sock, "the test app")
    asker.join(30)
    assert answers == [204]


def test_sigterm_after_the_drain_exits_0_not_143() -> None:
    before = signal.getsignal(signal.SIGTERM)
    try:
        exit_quietly_on_sigterm()
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        with pytest.raises(SystemExit) as exited:
            handler(signal.SIGTERM, None)
        assert exited.value.code == 0
    finally:
        signal.signal(signal.SIGTERM, before)
