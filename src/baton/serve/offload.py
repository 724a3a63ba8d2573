"""Decoding large requests and encoding large responses in a helper process.

orjson and numpy hold the GIL for a whole parse or dump, so a thread would stall every
other request just the same: a 46 MiB JSON request held the event loop for 2 s inline
and for ~0.1 s at most through the helper (the copy to it and back); a 25 MiB JSON
response took 0.5 s to encode. Below ``threshold`` bytes of JSON (a few milliseconds of
work) everything stays inline, where it is fastest. Binary tensors are views of the body
and cost nothing to decode, except BYTES elements, which are unpacked one by one.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from baton.errors import Unavailable
from baton.serve.codec import decode_request, encode_response
from baton.serve.protocol import InferRequest, InferResponse

JSON_BYTES_PER_VALUE = 10  # what one number takes in JSON, about
_WARM_UP = b'{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [0]}]}'
T = TypeVar("T")


class Offload:
    """One helper process, started on first use (most servers never need it)."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold  # bytes of JSON; 0: everything inline
        self._pool: ProcessPoolExecutor | None = None
        self._starting = asyncio.Lock()

    async def decode(self, body: bytes, json_length: int | None) -> InferRequest:
        if self.heavy_request(body, json_length):
            return await self._run(decode_request, body, json_length)
        return decode_request(body, json_length)

    async def encode(self, response: InferResponse) -> tuple[bytes, int | None]:
        if self.heavy_response(response):
            return await self._run(encode_response, response)
        return encode_response(response)

    def heavy_request(self, body: bytes, json_length: int | None) -> bool:
        if not self.threshold:
            return False
        head = len(body) if json_length is None else min(max(json_length, 0), len(body))
        if head >= self.threshold:
            return True
        return len(body) - head >= self.threshold and body.find(b'"BYTES"', 0, head) >= 0

    def heavy_response(self, response: InferResponse) -> bool:
        if not self.threshold:
            return False
        values = sum(
            out.data.size
            for out in response.outputs
            if not out.binary or out.data.dtype.kind in "OUS"
        )
        return values * JSON_BYTES_PER_VALUE >= self.threshold

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        async with self._starting:
            if self._pool is None:  # starting it blocks ~60 ms: not on the event loop
                self._pool = await asyncio.to_thread(_start_helper)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:  # the helper died (killed for memory?): start a new one
            self._pool = None
            raise Unavailable("the server's decoding helper restarted: retry the request") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def _start_helper() -> ProcessPoolExecutor:
    spawn = multiprocessing.get_context("spawn")  # never fork a process that has threads
    pool = ProcessPoolExecutor(max_workers=1, mp_context=spawn, initializer=_leave_signals)
    pool.submit(decode_request, _WARM_UP, None).result()  # up, with numpy and orjson loaded
    return pool


def _leave_signals() -> None:
    """Ctrl-C reaches the whole process group: the server stops its helper itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
