"""The ceiling of a Python HTTP stack on one core: uvloop + httptools, no framework, no
model, no JSON decoding. It reads each request whole (headers and body, keep-alive) and
answers with the same fixed V2 response bytes baton sends for one row. ``bench/serve.py``
reports baton's req/s as a share of this server's.

    python bench/reference/bare_http.py PORT ANSWER_FILE
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httptools
import uvloop


def response(answer: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % len(answer) + answer


class Bare(asyncio.Protocol):
    reply = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    def on_message_complete(self) -> None:
        self.transport.write(self.reply)
        if not self.parser.should_keep_alive():
            self.transport.close()


async def main(port: int, answer: bytes) -> None:
    Bare.reply = response(answer)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Bare, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1]), Path(sys.argv[2]).read_bytes()))
