"""Large bodies decode and encode in a helper process: the event loop keeps serving."""

from __future__ import annotations

import asyncio
import threading

import httpx
import numpy as np
import orjson
import pytest
from tests.serve.conftest import Start, v2_input
from tests.serve.test_guard import INFER

from baton.errors import BadInput
from baton.serve.codec import encode_response
from baton.serve.offload import Offload
from baton.serve.options import MIB
from baton.serve.protocol import InferRequest, InferResponse, OutputTensor
from baton.store.store import Store


def json_body(rows: int) -> bytes:
    data = np.random.default_rng(0).normal(size=(rows, 4)).astype(np.float32)
    return orjson.dumps({"inputs": [v2_input(data.ravel().tolist(), rows=rows)]})


def test_only_large_json_or_many_bytes_elements_are_heavy() -> None:
    offload = Offload(threshold=1000)
    assert not offload.heavy_request(b"x" * 999, None)
    assert offload.heavy_request(b"x" * 1000, None)
    head = b'{"inputs": [{"datatype": "FP32"}]}'
    assert not offload.heavy_request(head + bytes(5000), len(head))  # floats: a view, free
    strings = b'{"inputs": [{"datatype": "BYTES"}]}'
    assert offload.heavy_request(strings + bytes(5000), len(strings))
    assert not offload.heavy_request(strings + bytes(999), len(strings))
    assert not Offload(threshold=0).heavy_request(b"x" * 10**6, None)  # 0: never


def test_only_large_json_outputs_are_heavy() -> None:
    offload = Offload(threshold=1000)
    small, large = np.zeros(99, np.float32), np.zeros(100, np.float32)
    assert not offload.heavy_response(response(OutputTensor("p", small)))
    assert offload.heavy_response(response(OutputTensor("p", large)))
    assert not offload.heavy_response(response(OutputTensor("p", large * 10, binary=True)))
    strings = np.array(["a"] * 100, dtype=object)
    assert offload.heavy_response(response(OutputTensor("p", strings, binary=True)))


def response(*outputs: OutputTensor) -> InferResponse:
    return InferResponse("m", "1", outputs)


def test_the_helper_process_decodes_and_encodes_as_inline_does() -> None:
    offload = Offload(threshold=1)
    body = json_body(300)
    try:
        request = asyncio.run(offload.decode(body, None))
        assert offload._pool is not None  # it did go through the helper
        want = np.asarray(orjson.loads(body)["inputs"][0]["data"], np.float32).reshape(300, 4)
        np.testing.assert_array_equal(request.inputs[0].data, want)
        with pytest.raises(BadInput, match="not valid JSON"):
            asyncio.run(offload.decode(b"{" * 10, None))
        answer = response(OutputTensor("p", want), OutputTensor("q", want, binary=True))
        assert asyncio.run(offload.encode(answer)) == encode_response(answer)
    finally:
        offload.close()


def test_the_event_loop_runs_on_while_the_helper_decodes() -> None:
    """Inline, a heavy decode holds the loop until it returns; through the helper the loop
    decodes small requests meanwhile. Counted in loop turns, not seconds (how long the
    stall lasts is ``bench/offload.py``'s to measure)."""

    async def small_ones_during(offload: Offload, body: bytes) -> int:
        small = json_body(1)
        heavy = asyncio.ensure_future(offload.decode(body, None))
        served = 0
        while not heavy.done():
            await offload.decode(small, None)  # below the threshold: inline, as served
            served += 1
            await asyncio.sleep(0)  # one turn of the loop to whoever is ready
        np.testing.assert_array_equal(heavy.result().inputs[0].data.shape, (20_000, 4))
        return served

    body = json_body(20_000)
    helper, inline = Offload(threshold=1000), Offload(threshold=0)
    try:
        asyncio.run(helper.decode(body, None))  # the helper started: not what is counted
        # the heavy decode awaits the helper's answer: at least one more turn
        assert asyncio.run(small_ones_during(helper, body)) >= 2
        assert helper._pool is not None
        # inline it ran whole at its first turn: the small one before it was the only one
        assert asyncio.run(small_ones_during(inline, body)) == 1
    finally:
        helper.close()


def test_a_server_answers_small_requests_while_a_large_one_decodes(
    toy_store: Store, live_server: Start
) -> None:
    """A ~20 MiB JSON body goes to the helper and the server answers small requests
    meanwhile. The large one's decode is held in the helper until twenty small ones have
    been answered: inline, none would be, and the test would fail at ``entered``."""
    live = live_server("toy", max_body_bytes=64 * MIB)
    assert live.app.runtime is not None
    offload = live.app.runtime.offload
    decode = offload.decode
    entered, release = threading.Event(), threading.Event()

    async def held(body: bytes, json_length: int | None) -> InferRequest:
        work = asyncio.ensure_future(decode(body, json_length))  # the helper decodes
        entered.set()
        assert await asyncio.to_thread(release.wait, 60), "the test never released it"
        return await work

    offload.decode = held  # type: ignore[method-assign]
    big = json_body(250_000)
    outcome: dict[str, int] = {}

    def send_big() -> None:
        r = live.client.post("/v2/models/toy/infer", content=big, timeout=120)
        outcome["status"] = r.status_code

    worker = threading.Thread(target=send_big)
    worker.start()
    try:
        assert entered.wait(60), "the large request was not handed to the helper"
        with httpx.Client(base_url=live.url, timeout=30) as small:
            for _ in range(20):
                assert small.post("/v2/models/toy/infer", json=INFER).is_success
        assert worker.is_alive()  # still held: the twenty were answered during its decode
    finally:
        release.set()
        worker.join()
    assert outcome["status"] == 200
