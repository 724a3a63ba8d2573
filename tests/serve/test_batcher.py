"""The batcher on a real event loop and a real worker thread, with a gate to hold the model."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Coroutine
from typing import Any

import numpy as np
import pytest

from baton.serve.batcher import Batcher, Closed, QueueFull

Arrays = dict[str, np.ndarray]


class GatedModel:
    """Doubles its input; can be held inside a call, and fails on negative rows."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.batches: list[int] = []

    def __call__(self, feed: Arrays) -> Arrays:
        self.entered.set()
        self.gate.wait(10)
        x = feed["x"]
        self.batches.append(len(x))
        if (x < 0).any():
            raise ValueError("negative input")
        return {"y": x * 2}


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


def row(value: float, rows: int = 1) -> Arrays:
    return {"x": np.full((rows, 2), value, np.float32)}


async def hold(model: GatedModel, batcher: Batcher) -> asyncio.Future[Any]:
    """Occupy the model with one request so the next ones queue behind it."""
    model.gate.clear()
    model.entered.clear()
    first = batcher.submit(row(0.0), 1)
    await asyncio.to_thread(model.entered.wait, 10)
    return first


def test_a_lone_request_is_never_held_for_the_delay() -> None:
    async def main() -> None:
        model = GatedModel()
        batcher = Batcher(model, max_batch_size=32, max_queue_delay_s=60.0)
        batcher.start()
        for _ in range(3):  # would take minutes if the delay applied at low load
            done = await asyncio.wait_for(batcher.submit(row(1.0), 1), 5)
            assert done.outputs["y"].tolist() == [[2.0, 2.0]]
            assert done.batch_rows == 1
        await batcher.close()

    run(main())


def test_requests_queued_while_busy_run_as_one_batch_and_get_their_own_rows() -> None:
    async def main() -> None:
        model = GatedModel()
        batcher = Batcher(model, max_batch_size=32)
        batcher.start()
        first = await hold(model, batcher)
        queued = [batcher.submit(row(float(i), rows=i), i) for i in range(1, 6)]
        assert batcher.queued == 5
        model.gate.set()
        await first
        results = await asyncio.gather(*queued)
        assert model.batches == [1, 15]
        for i, done in enumerate(results, start=1):
            assert done.outputs["y"].shape == (i, 2)
            assert (done.outputs["y"] == 2.0 * i).all()
            assert done.batch_rows == 15
            assert done.queue_s >= 0
            assert done.compute_s >= 0
        await batcher.close()

    run(main())


def test_batches_respect_the_row_limit() -> None:
    async def main() -> None:
        model = GatedModel()
        batcher = Batcher(model, max_batch_size=4)
        batcher.start()
        first = await hold(model, batcher)
        queued = [batcher.submit(row(1.0), 1) for _ in range(10)]
        model.gate.set()
        await asyncio.gather(first, *queued)
        assert model.batches == [1, 4, 4, 2]
        await batcher.close()

    run(main())


def test_a_failing_request_fails_alone() -> None:
    async def main() -> None:
        model = GatedModel()
        batcher = Batcher(model, max_batch_size=32)
        batcher.start()
        first = await hold(model, batcher)
        good1 = batcher.submit(row(1.0), 1)
        bad = batcher.submit(row(-1.0), 1)
        good2 = batcher.submit(row(3.0), 1)
        model.gate.set()
        await first
        assert (await good1).outputs["y"].tolist() == [[2.0, 2.0]]
        assert (await good2).outputs["y"].tolist() == [[6.0, 6.0]]
        with pytest.raises(ValueError, match="negative"):
            await bad
        await batcher.close()

    run(main())


def test_a_full_queue_refuses_with_a_retry_hint() -> None:
    async def main() -> None:
        model = GatedModel()
        batcher = Batcher(model, max_batch_size=32, max_queue=2)
        batcher.start()
        first = await hold(model, batcher)
        queued = [batcher.submit(row(1.0), 1) for _ in range(2)]
        with pytest.raises(QueueFull, match="2 requests queued") as info:
            batcher.submit(row(1.0), 1)
        assert info.value.retry_after_s >= 1
        model.gate.set()
        await asyncio.gather(first, *queued)
        await batcher.close()

    run(main())


def test_close_finishes_queued_requests_then_refuses_new_ones() -> None:
    async def main() -> None:
        model = GatedModel()
        batcher = Batcher(model, max_batch_size=2)
        batcher.start()
        first = await hold(model, batcher)
        queued = [batcher.submit(row(1.0), 1) for _ in range(5)]
        closing = asyncio.ensure_future(batcher.close())
        await asyncio.sleep(0.05)
        with pytest.raises(Closed):
            batcher.submit(row(1.0), 1)
        model.gate.set()
        await closing
        assert all(f.done() and f.exception() is None for f in [first, *queued])

    run(main())


def test_under_load_the_delay_holds_a_batch_open_for_late_rows() -> None:
    async def main() -> None:
        model = GatedModel()
        batcher = Batcher(model, max_batch_size=2, max_queue_delay_s=5.0)
        batcher.start()
        first = await hold(model, batcher)
        busy = [batcher.submit(row(1.0), 1) for _ in range(2)]
        model.gate.set()
        await asyncio.gather(first, *busy)  # the last batch had 2 requests: under load
        a = batcher.submit(row(1.0), 1)
        await asyncio.sleep(0.05)  # b arrives later; the open batch waits for it
        b = batcher.submit(row(2.0), 1)
        await asyncio.gather(a, b)
        assert model.batches[-1] == 2
        await batcher.close()

    run(main())


def test_tiny_batches_run_in_place_and_slow_ones_on_the_worker_thread() -> None:
    """A thread hop costs more than a 10 µs model call; a slow call must leave the loop."""

    async def main() -> None:
        threads: list[str] = []

        def fast(feed: Arrays) -> Arrays:
            threads.append(threading.current_thread().name)
            return {"y": feed["x"]}

        def slow(feed: Arrays) -> Arrays:
            threads.append(threading.current_thread().name)
            time.sleep(0.002)
            return {"y": feed["x"]}

        loop_thread = threading.current_thread().name
        for runner, inline_below_s in ((fast, 1.0), (slow, 0.0005)):
            threads.clear()
            batcher = Batcher(runner, inline_below_s=inline_below_s, name="m")
            batcher.start()
            for _ in range(3):
                await batcher.submit(row(1.0), 1)
            await batcher.close()
            assert threads[0] != loop_thread  # the first call measures, on the thread
            if runner is fast:
                assert threads[1:] == [loop_thread, loop_thread]
            else:
                assert loop_thread not in threads

    run(main())


def test_on_one_cpu_every_batch_runs_in_place() -> None:
    """There a thread cannot compute while the loop reads: it only adds the hop."""

    async def main() -> None:
        threads: list[str] = []

        def model(feed: Arrays) -> Arrays:
            threads.append(threading.current_thread().name)
            time.sleep(0.001)  # slower than the default inline threshold
            return {"y": feed["x"] * 2}

        batcher = Batcher(model, inline_below_s=math.inf, name="m")
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(row(float(i)), 1) for i in range(5)))
        await batcher.close()
        assert threads and set(threads) == {threading.current_thread().name}
        assert [float(r.outputs["y"][0, 0]) for r in results] == [0.0, 2.0, 4.0, 6.0, 8.0]

    run(main())
