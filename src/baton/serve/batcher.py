"""The per-model queue that forms batches and runs them off the event loop.

Batch what is already queued: when the model is idle a lone request runs at once. While
a batch computes, new requests queue and form the next batch. ``max_queue_delay_s``
only holds a batch open (measured from its oldest request's arrival) while the model is
under concurrent load, i.e. when the previous batch had more than one request; one idle
request resets that, so a delay learnt under load never lingers at low load.

A batch runs on the batcher's own thread, so the event loop keeps reading requests while
ONNX Runtime computes. The one exception is a batch whose measured cost is below
``inline_below_s`` (100 µs by default; small models at low load): handing it to a thread
and back costs more than the call itself, so it runs in place. Where the process may use
only one CPU (``inline_below_s=math.inf``, chosen by the loader), every batch runs in place:
a thread there cannot compute while the loop reads requests, it only adds the hop (a lock,
a wake-up, a GIL hand-over and a write to the loop's pipe, per batch).

A batch that fails is re-run one request at a time, so one bad request fails alone.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from baton.errors import Unavailable
from baton.serve.asgi import Overloaded
from baton.serve.batching import batch_key, merge, split, take_batch

Arrays = Mapping[str, np.ndarray[Any, Any]]
Runner = Callable[[dict[str, np.ndarray[Any, Any]]], dict[str, np.ndarray[Any, Any]]]
Clock = Callable[[], float]


class QueueFull(Overloaded):
    """The model's queue is full: the client should retry after a short wait."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Closed(Unavailable):
    """The model is being unloaded and takes no new requests."""


@dataclass(slots=True)  # not frozen: a frozen init costs ~0.5 µs more, per request
class Done:
    outputs: dict[str, np.ndarray[Any, Any]]
    queue_s: float  # from submit until its batch started computing
    compute_s: float  # the model call of its batch
    batch_rows: int


@dataclass(slots=True)
class _Item:
    inputs: Arrays
    rows: int
    key: Hashable
    enqueued: float
    future: asyncio.Future[Done] = field(repr=False)


BatchHook = Callable[[int, float], None]  # (rows in the batch, compute seconds)


class Batcher:
    """Queue, batch and run requests for one loaded model."""

    def __init__(
        self,
        run: Runner,
        *,
        max_batch_size: int = 32,
        max_queue_delay_s: float = 0.0,
        max_queue: int = 1024,
        clock: Clock = time.perf_counter,
        executor: Executor | None = None,
        on_batch: BatchHook | None = None,
        name: str = "model",
        inline_below_s: float = 0.0001,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_queue_delay_s < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1, the delay >= 0")
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_queue_delay_s = max_queue_delay_s
        self.max_queue = max_queue
        self._clock = clock
        self._own_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix=f"ort-{name}")
        self._on_batch = on_batch
        self._name = name
        self._pending: list[_Item] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._busy = False
        self._last_batch_requests = 1
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop that runs the worker
        self._mean_compute_s = 0.001
        self.inline_below_s = inline_below_s
        self._always_inline = math.isinf(inline_below_s)
        self._row_s: float | None = None  # measured seconds per row (moving average)

    @property
    def queued(self) -> int:
        return len(self._pending)

    @property
    def idle(self) -> bool:
        return not self._pending and not self._busy

    def start(self) -> None:
        """Start the worker on the running event loop."""
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = self._loop.create_task(self._work(), name=f"batcher-{self._name}")

    def submit(self, inputs: Arrays, rows: int) -> asyncio.Future[Done]:
        """Queue a request (synchronously, so a caller that just looked the model up
        cannot miss a hot swap); await the returned future for its outputs."""
        if self._closing:
            raise Closed(f"{self._name} is being unloaded: retry the request")
        if len(self._pending) >= self.max_queue:
            wait = max(1.0, self._mean_compute_s * len(self._pending) / self.max_batch_size)
            raise QueueFull(
                f"{self._name} has {len(self._pending)} requests queued (the limit): "
                "retry after a short wait, or add replicas",
                retry_after_s=wait,
            )
        # the loop the worker runs on (looking it up costs a getpid() call in Python 3.11)
        loop = self._loop or asyncio.get_running_loop()
        future: asyncio.Future[Done] = loop.create_future()
        self._pending.append(_Item(inputs, rows, batch_key(inputs), self._clock(), future))
        self._wakeup.set()
        return future

    async def close(self) -> None:
        """Stop taking requests, finish every queued one, then stop the worker."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._own_executor:
            self._executor.shutdown(wait=False)

    async def _work(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = take_batch(self._pending, self.max_batch_size)
            if self.max_queue_delay_s > 0 and self._last_batch_requests > 1:
                batch = await self._hold_open(batch)
            self._last_batch_requests = len(batch)
            self._busy = True
            try:
                await self._compute(batch)
            finally:
                self._busy = False

    async def _hold_open(self, batch: list[_Item]) -> list[_Item]:
        """Under load, wait (until the oldest request is ``delay`` old) for more rows."""
        deadline = batch[0].enqueued + self.max_queue_delay_s
        rows = sum(i.rows for i in batch)
        while rows < self.max_batch_size and not self._closing:
            left = deadline - self._clock()
            if left <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), left)
            except TimeoutError:
                break
            self._pending[:0] = batch
            batch = take_batch(self._pending, self.max_batch_size)
            rows = sum(i.rows for i in batch)
        return batch

    async def _compute(self, batch: list[_Item]) -> None:
        loop = self._loop or asyncio.get_running_loop()
        started = self._clock()
        parts = [i.inputs for i in batch]
        sizes = [i.rows for i in batch]
        rows = sum(sizes)
        inline = self._always_inline or (
            self._row_s is not None and self._row_s * rows < self.inline_below_s
        )
        try:
            if inline:
                results, compute_s = self._merged_call(parts, sizes)
            else:
                results, compute_s = await loop.run_in_executor(
                    self._executor, self._merged_call, parts, sizes
                )
        except Exception as exc:
            if len(batch) == 1:
                _fail(batch[0].future, exc)
                return
            for item in batch:  # isolate the request that breaks the batch
                await self._compute([item])
            return
        per_row = compute_s / max(rows, 1)
        self._row_s = per_row if self._row_s is None else 0.8 * self._row_s + 0.2 * per_row
        self._mean_compute_s = 0.9 * self._mean_compute_s + 0.1 * compute_s
        if self._on_batch is not None:
            self._on_batch(rows, compute_s)
        for item, outputs in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(Done(outputs, started - item.enqueued, compute_s, rows))
        if inline:
            await asyncio.sleep(0)  # let the loop read and answer requests between batches

    def _merged_call(
        self, parts: list[Arrays], sizes: list[int]
    ) -> tuple[list[dict[str, np.ndarray[Any, Any]]], float]:
        started = self._clock()
        results = split(self._run(merge(parts)), sizes)
        return results, self._clock() - started


def _fail(future: asyncio.Future[Done], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
