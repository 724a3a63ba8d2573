"""CPU per REST request in-process: the server's own protocol and app, no kernel, no client.

    .venv/bin/python bench/serving/rest_cpu.py [--connections 32] [--rounds 400] [--floor]

uvicorn's protocol as ``baton serve`` configures it (``GuardedProtocol``) runs on
in-memory transports: each round feeds one single-row V2 request (``bench/serve.py``'s
body, digits model) to every connection and runs the loop until every response is out;
CPU time per request (all threads) is taken per round and the minimum and quartile
printed. On a shared machine this moves far less than a real server's figure (no socket
wake-ups, no load generator), so it is the one to compare changes by; the real server adds
the kernel's read and write. ``--floor`` serves a fixed answer from a do-nothing ASGI app
through the same protocol: what uvicorn and the guard cost alone. Run it pinned to a core
(``taskset -c 0``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import uvloop
from uvicorn.server import ServerState

from baton.config import Settings
from baton.core.signature import DType, TensorSpec
from baton.handover.register import register_handover
from baton.serve.app import ServeApp
from baton.serve.curl import infer_body
from baton.serve.options import ServeOptions
from baton.serve.server import uvicorn_config
from baton.store.store import open_store

INPUT = TensorSpec(name="input", dtype=DType.FLOAT32, shape=(-1, 64))


class MemoryTransport(asyncio.Transport):
    """A connection's transport that keeps what is written and says when a response ends."""

    def __init__(self, answered: Any) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self._answered = answered

    def write(self, data: bytes | bytearray | memoryview) -> None:
        chunk = bytes(data)
        self.written.append(chunk)
        if chunk.endswith(b"}"):  # every answer here is one JSON object, written last
            self._answered()

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True


class FixedAnswer:
    """The floor: reads the body, sends the answer a served digits request gets."""

    def __init__(self, options: ServeOptions, answer: bytes) -> None:
        self.options = options  # the guard reads its limits here
        self.answer = answer

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await receive()
        length = b"%d" % len(self.answer)
        headers = [(b"content-type", b"application/json"), (b"content-length", length)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.answer})


async def measure(
    app: Any, options: ServeOptions, request: bytes, args: argparse.Namespace
) -> list[float]:
    config = uvicorn_config(app, options)
    config.load()
    loop = asyncio.get_running_loop()
    state = ServerState()
    left = 0
    round_done: asyncio.Future[None] = loop.create_future()

    def answered() -> None:
        nonlocal left
        left -= 1
        if left == 0:
            round_done.set_result(None)

    connections = []
    for _ in range(args.connections):
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=state, app_state={}, _loop=loop
        )
        transport = MemoryTransport(answered)
        protocol.connection_made(transport)
        connections.append((protocol, transport))
    per_request: list[float] = []
    for _ in range(args.rounds):
        left, round_done = args.connections, loop.create_future()
        started = time.process_time()
        for protocol, _ in connections:
            protocol.data_received(request)
        await round_done
        per_request.append((time.process_time() - started) / args.connections * 1e6)
        for _, transport in connections:
            answer = b"".join(transport.written)
            if not answer.startswith(b"HTTP/1.1 200 OK\r\n"):
                sys.exit(f"unexpected answer: {answer[:300]!r}")
            transport.written.clear()
    return per_request[len(per_request) // 20 :]  # the first rounds warm up


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="baton-rest-cpu-") as tmp:
        from baton.examples import digits

        root = Path(tmp)
        settings = Settings(home=root / "home", user="bench")
        store = open_store(settings)
        registered = register_handover(store, digits.build(root / "digits").folder, actor="bench")
        store.close()
        row = np.random.default_rng(0).random(64).astype(np.float32)
        body = orjson.dumps(infer_body(INPUT, row))
        request = (
            b"POST /v2/models/%s/infer HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (registered.version.model.encode(), len(body))
        ) + body
        options = ServeOptions(refs=(registered.version.model,), threads=1, poll_interval_s=0)
        served = ServeApp(settings, options)
        await served.start()
        try:
            app: Any = served
            if args.floor:
                answer = orjson.dumps(
                    {
                        "model_name": registered.version.model,
                        "model_version": "1",
                        "outputs": [
                            {
                                "name": "probabilities",
                                "datatype": "FP32",
                                "shape": [1, 10],
                                "data": [0.1] * 10,
                            }
                        ],
                    }
                )
                app = FixedAnswer(options, answer)
            times = await measure(app, options, request, args)
        finally:
            await served.stop()
    label = "uvicorn + guard, fixed answer" if args.floor else "baton REST"
    print(
        f"{label}: c={args.connections}, CPU µs per request: min {min(times):.1f}, "
        f"p25 {statistics.quantiles(times, n=4)[0]:.1f}, median {statistics.median(times):.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--floor", action="store_true", help="a do-nothing app: uvicorn's cost")
    uvloop.run(main(parser.parse_args()))
