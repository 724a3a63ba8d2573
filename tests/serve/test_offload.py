"""Large bodies decode and encode in a helper process: the event loop keeps serving."""

from __future__ import annotations

import asyncio
import threading
import time

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
from baton.serve.protocol import InferResponse, OutputTensor
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


def test_a_large_json_request_never_stalls_small_ones(toy_store: Store, live_server: Start) -> None:
    """Decoded inline, a ~20 MiB JSON body holds the event loop for the whole parse (the
    small requests behind it wait it out); in the helper process they keep flowing."""
    live = live_server("toy", max_body_bytes=64 * MIB)
    big = json_body(250_000)
    outcome: dict[str, float] = {}

    def send_big() -> None:
        started = time.perf_counter()
        r = live.client.post("/v2/models/toy/infer", content=big, timeout=120)
        outcome["status"] = r.status_code
        outcome["seconds"] = time.perf_counter() - started

    assert live.client.post("/v2/models/toy/infer", content=json_body(1)).is_success
    worker = threading.Thread(target=send_big)
    worker.start()
    latencies: list[float] = []
    with httpx.Client(base_url=live.url, timeout=30) as small:
        while worker.is_alive():
            started = time.perf_counter()
            assert small.post("/v2/models/toy/infer", json=INFER).is_success
            latencies.append(time.perf_counter() - started)
    worker.join()
    assert outcome["status"] == 200
    assert len(latencies) > 5
    # inline, one small request waits out the whole decode (most of the big one's time)
    assert max(latencies) < 0.3 * outcome["seconds"], (max(latencies), outcome["seconds"])
