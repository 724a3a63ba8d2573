"""V2 over gRPC against the real server, driven by Triton's own clients (sync and asyncio)
and by Triton's own messages: every call, every datatype typed and raw, the status codes,
fuzzed bad messages, concurrent load shared with REST, and hot swap under gRPC load."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.handover_factory import write_handover
from tests.serve.conftest import LiveServer, Start, v2_input
from tests.serve.test_dataplane import TYPES
from tests.serve.test_grpc_codec import array, values
from tritonclient import grpc as tgrpc
from tritonclient.grpc import aio as tgrpc_aio
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from baton.config import Settings
from baton.handover.register import register_handover
from baton.serve.grpc_codec import TYPED_FIELD
from baton.store.store import Store, open_store

ROW = np.array([[0.5, -1.0, 2.0, 0.25]], np.float32)
TOKEN = "an-admin-token-0123456789"


def address(live: LiveServer) -> str:
    assert live.app.grpc is not None
    return f"127.0.0.1:{live.app.grpc.port}"


def stub(live: LiveServer) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(address(live))
    return channel, service_pb2_grpc.GRPCInferenceServiceStub(channel)


def toy_input(rows: np.ndarray = ROW) -> tgrpc.InferInput:
    tensor = tgrpc.InferInput("input", list(rows.shape), "FP32")
    tensor.set_data_from_numpy(rows)
    return tensor


def test_every_call_tritonclient_makes(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy", "toy:2", grpc_port=0, max_batch_size=8, admin_token=TOKEN)
    client = tgrpc.InferenceServerClient(address(live))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("toy")
        assert client.is_model_ready("toy", "2")
        assert not client.is_model_ready("nope")
        meta = client.get_server_metadata(as_json=True)
        assert meta["name"] == "baton"
        assert "statistics" in meta["extensions"]
        model = client.get_model_metadata("toy", as_json=True)
        assert model["versions"] == ["1"]
        assert model["inputs"] == [{"name": "input", "datatype": "FP32", "shape": ["-1", "4"]}]
        config = client.get_model_config("toy", as_json=True)["config"]
        assert config["max_batch_size"] == 8
        assert config["input"][0]["dims"] == ["4"]
        assert config["input"][0]["data_type"] == "TYPE_FP32"
        assert config["instance_group"] == [{"name": "toy", "kind": "KIND_CPU", "count": 1}]
        want = live.client.post(
            "/v2/models/toy/infer", json={"inputs": [v2_input([0.5, -1.0, 2.0, 0.25])]}
        )
        result = client.infer("toy", [toy_input()], request_id="g1")
        np.testing.assert_allclose(
            result.as_numpy("probabilities")[0], want.json()["outputs"][0]["data"], rtol=1e-6
        )
        assert result.get_response().id == "g1"
        assert (
            client.infer("toy", [toy_input()], model_version="2").get_response().model_version
            == "2"
        )
        stats = client.get_inference_statistics("toy", "1", as_json=True)["model_stats"][0]
        assert stats["inference_stats"]["success"]["count"] == "2"  # REST and gRPC alike
        index = client.get_model_repository_index(as_json=True)["models"]
        assert sorted((m["name"], m["version"]) for m in index) == [("toy", "1"), ("toy", "2")]
        admin = {"authorization": f"Bearer {TOKEN}"}
        client.unload_model("toy", headers=admin)
        assert not client.is_model_ready("toy")
        client.load_model("toy", headers=admin)
        assert client.is_model_ready("toy")
    finally:
        client.close()


@pytest.fixture
def echo(sqlite_settings: Settings, tmp_path: Path) -> None:
    from tests.serve.test_dataplane import echo_handover

    store = open_store(sqlite_settings)
    register_handover(store, echo_handover(tmp_path / "echo"), actor="tester")
    store.close()


def test_every_datatype_raw_through_tritonclient(echo: None, live_server: Start) -> None:
    live = live_server("echo", grpc_port=0)
    client = tgrpc.InferenceServerClient(address(live))
    try:
        inputs = []
        for t in TYPES:
            tensor = tgrpc.InferInput(f"in_{t.lower()}", [2, 2], t)
            data = array(t).astype(np.object_) if t == "BYTES" else array(t)
            tensor.set_data_from_numpy(data)
            inputs.append(tensor)
        result = client.infer("echo", inputs)
        for t in TYPES:
            got = result.as_numpy(f"out_{t.lower()}")
            if t == "BYTES":
                assert [v.decode() for v in got.ravel()] == values(t)
            else:
                assert got.dtype == array(t).dtype
                assert got.tolist() == array(t).tolist()
    finally:
        client.close()


def test_every_datatype_typed_in_tritons_own_messages(
    sqlite_settings: Settings, tmp_path: Path, live_server: Start
) -> None:
    """Typed contents in, typed contents out, for every datatype that has a typed form."""
    from tests.serve.test_dataplane import echo_handover

    typed = {t: v for t, v in TYPES.items() if t != "FP16"}
    store = open_store(sqlite_settings)
    register_handover(store, echo_handover(tmp_path / "echo", typed), actor="tester")
    store.close()
    live = live_server("echo", grpc_port=0)
    channel, service = stub(live)
    request = service_pb2.ModelInferRequest(model_name="echo")
    for t in typed:
        tensor = request.inputs.add(name=f"in_{t.lower()}", datatype=t, shape=[2, 2])
        data = values(t)
        field = getattr(tensor.contents, TYPED_FIELD[t])
        field.extend([v.encode() for v in data] if t == "BYTES" else data)
    with channel:
        answer = service.ModelInfer(request)
        fp16 = service_pb2.ModelInferRequest(model_name="echo")
        fp16.inputs.add(name="in_fp16", datatype="FP16", shape=[1, 2])
        code, details, _ = _code(lambda: service.ModelInfer(fp16))
    assert not answer.raw_output_contents
    for out, t in zip(answer.outputs, typed, strict=True):
        assert (out.name, out.datatype, list(out.shape)) == (f"out_{t.lower()}", t, [2, 2])
        got = list(getattr(out.contents, TYPED_FIELD[t]))
        want = [v.encode() for v in values(t)] if t == "BYTES" else values(t)
        if t == "FP32":
            np.testing.assert_allclose(got, want, rtol=1e-6)
        else:
            assert got == want, t
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "FP16, which has no typed contents: send it raw" in details


def test_typed_requests_get_typed_answers(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy", grpc_port=0)
    channel, service = stub(live)
    with channel:
        request = service_pb2.ModelInferRequest(model_name="toy", id="t")
        tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 4])
        tensor.contents.fp32_contents.extend(ROW.ravel().tolist())
        answer = service.ModelInfer(request)
        assert not answer.raw_output_contents
        assert answer.id == "t"
        assert len(answer.outputs[0].contents.fp32_contents) == 3
        assert list(answer.outputs[0].shape) == [1, 3]


def _code(call: Any) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    error = info.value
    trailers = {k: v for k, v in (error.trailing_metadata() or ())}
    return error.code(), error.details(), trailers


def test_mistakes_get_their_status_and_the_channel_carries_on(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", grpc_port=0, max_body_bytes=4096)
    channel, service = stub(live)
    ok = service_pb2.ModelInferRequest(model_name="toy")
    ok.inputs.add(name="input", datatype="FP32", shape=[1, 4])
    ok.raw_input_contents.append(ROW.tobytes())
    garbage = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    with channel:
        cases = [
            (lambda: service.ModelInfer(service_pb2.ModelInferRequest(model_name="nope")),
             grpc.StatusCode.NOT_FOUND, "'nope' is not served here"),
            (lambda: service.ModelInfer(
                service_pb2.ModelInferRequest(model_name="toy", model_version="7")),
             grpc.StatusCode.NOT_FOUND, "version '7'"),
            (lambda: service.ModelMetadata(service_pb2.ModelMetadataRequest(name="nope")),
             grpc.StatusCode.NOT_FOUND, "not served"),
            (lambda: garbage(b"\xff\xff\xff"), grpc.StatusCode.INVALID_ARGUMENT,
             "not a valid ModelInferRequest"),
            (lambda: service.ModelInfer(service_pb2.ModelInferRequest(
                model_name="toy", raw_input_contents=[b"\0" * 8000])),
             grpc.StatusCode.RESOURCE_EXHAUSTED, "larger than max"),
        ]  # fmt: skip
        for call, code, text in cases:
            got, details, _ = _code(call)
            assert got == code, details
            assert text in details
            assert service.ModelInfer(ok).model_version == "1"  # the channel still serves
    text = live.client.get("/metrics").text
    assert 'baton_requests_total{code="404",model="_unknown",version=""} 2.0' in text


def test_a_full_queue_is_resource_exhausted_with_when_to_retry(
    sqlite_settings: Settings, tmp_path: Path, live_server: Start
) -> None:
    store = open_store(sqlite_settings)
    register_handover(store, write_handover(tmp_path / "heavy", name="heavy", inputs=64,
                                            hidden=(1024, 1024)), actor="t")  # fmt: skip
    store.close()
    live = live_server("heavy", grpc_port=0, max_queue=1, max_batch_size=1)
    rows = np.random.default_rng(0).normal(size=(2000, 64)).astype(np.float32)

    async def flood() -> list[BaseException | Any]:
        async with tgrpc_aio.InferenceServerClient(address(live)) as client:
            calls = []
            for _ in range(8):
                tensor = tgrpc_aio.InferInput("input", [2000, 64], "FP32")
                tensor.set_data_from_numpy(rows)
                calls.append(client.infer("heavy", [tensor]))
            return await asyncio.gather(*calls, return_exceptions=True)

    outcomes = asyncio.run(flood())
    refused = [o for o in outcomes if isinstance(o, InferenceServerException)]
    assert refused, outcomes
    assert len(refused) < len(outcomes)
    assert all(o.status() == "StatusCode.RESOURCE_EXHAUSTED" for o in refused)
    assert all("retry after a short wait" in o.message() for o in refused)
    channel, service = stub(live)
    with channel:  # the hint itself, in the trailing metadata
        request = service_pb2.ModelInferRequest(model_name="heavy")
        request.inputs.add(name="input", datatype="FP32", shape=[2000, 64])
        request.raw_input_contents.append(rows.tobytes())
        futures = [service.ModelInfer.future(request) for _ in range(6)]
        trailers = []
        for future in futures:
            try:
                future.result()
            except grpc.RpcError as exc:
                trailers.append(dict(exc.trailing_metadata() or ()))
    assert trailers
    assert all(
        int(t["retry-after"]) >= 1 and int(t["grpc-retry-pushback-ms"]) >= 1 for t in trailers
    )


def test_asyncio_clients_and_rest_share_one_model_under_load(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy", grpc_port=0)
    want = live.client.post(
        "/v2/models/toy/infer", json={"inputs": [v2_input(ROW.ravel().tolist())]}
    ).json()["outputs"][0]["data"]

    async def load() -> list[Any]:
        async with tgrpc_aio.InferenceServerClient(address(live)) as client:

            async def one() -> Any:
                return (await client.infer("toy", [_aio_input()])).as_numpy("probabilities")

            return await asyncio.gather(*(one() for _ in range(300)))

    rest: list[int] = []

    def rest_load() -> None:
        for _ in range(50):
            rest.append(
                live.client.post(
                    "/v2/models/toy/infer", json={"inputs": [v2_input(ROW.ravel().tolist())]}
                ).status_code
            )

    thread = threading.Thread(target=rest_load)
    thread.start()
    results = asyncio.run(load())
    thread.join(60)
    assert rest == [200] * 50
    for got in results:
        np.testing.assert_allclose(got[0], want, rtol=1e-6)
    text = live.client.get("/metrics").text
    assert 'baton_requests_total{code="200",model="toy",version="1"} 351.0' in text
    assert live.app.runtime is not None
    stats = live.app.runtime.dataplane.statistics("toy")["model_stats"][0]
    assert stats["inference_stats"]["success"]["count"] == 351
    assert stats["execution_count"] < 351  # concurrent requests shared model calls


def _aio_input() -> tgrpc_aio.InferInput:
    tensor = tgrpc_aio.InferInput("input", [1, 4], "FP32")
    tensor.set_data_from_numpy(ROW)
    return tensor


def test_hot_swap_under_grpc_load_fails_no_request(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy", grpc_port=0, poll_interval_s=0.1)
    stop = threading.Event()
    versions: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def loop() -> None:
        client = tgrpc.InferenceServerClient(address(live))
        while not stop.is_set():
            try:
                version = client.infer("toy", [toy_input()]).get_response().model_version
            except InferenceServerException as exc:
                with lock:
                    errors.append(str(exc))
                continue
            with lock:
                versions[version] += 1
        client.close()

    def seen(version: str) -> bool:
        with lock:
            return versions[version] >= 20

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        _wait(lambda: seen("1"), "version 1 answering")
        toy_store.registry.set_alias("toy", "production", 2, actor="t", reason="test")
        _wait(lambda: seen("2"), "version 2 answering")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    assert versions["1"] > 0 and versions["2"] > 0


def _wait(check: Any, what: str) -> None:
    from tests.waiting import wait_until

    wait_until(check, what, timeout=30, every=0.02)


message_strategy = st.builds(
    dict,
    model=st.sampled_from(["toy", "toy", "nope", ""]),
    version=st.sampled_from(["", "1", "9", "x"]),
    name=st.sampled_from(["input", "other", ""]),
    datatype=st.sampled_from(["FP32", "FP64", "INT8", "BYTES", "FP16", "fp32", ""]),
    shape=st.lists(st.integers(-1, 6), max_size=3),
    floats=st.lists(st.floats(allow_nan=True, width=32), max_size=12),
    raw=st.one_of(st.none(), st.binary(max_size=40)),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(message=message_strategy)
def test_fuzzed_bad_messages_get_a_clear_status_and_never_break_the_channel(
    toy_store: Store, grpc_toy: LiveServer, message: dict[str, Any]
) -> None:
    _, service = _shared_stub(grpc_toy)
    request = service_pb2.ModelInferRequest(
        model_name=message["model"], model_version=message["version"]
    )
    tensor = request.inputs.add(
        name=message["name"], datatype=message["datatype"], shape=message["shape"]
    )
    if message["raw"] is None:
        tensor.contents.fp32_contents.extend(message["floats"])
    else:
        request.raw_input_contents.append(message["raw"])
    code, details = grpc.StatusCode.OK, ""
    try:
        service.ModelInfer(request)
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()
    assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert "\n" not in details
    assert (code == grpc.StatusCode.OK) != bool(details)
    good = service_pb2.ModelInferRequest(model_name="toy")
    good.inputs.add(name="input", datatype="FP32", shape=[1, 4])
    good.raw_input_contents.append(ROW.tobytes())
    assert service.ModelInfer(good).model_name == "toy"


_STUBS: dict[str, tuple[grpc.Channel, Any]] = {}


def _shared_stub(live: LiveServer) -> tuple[grpc.Channel, Any]:
    """One channel for every example: a bad message must not break it for the next."""
    key = address(live)
    if key not in _STUBS:
        _STUBS[key] = stub(live)
    return _STUBS[key]


@pytest.fixture
def grpc_toy(live_server: Start) -> Any:
    live = live_server("toy", grpc_port=0)
    yield live
    channel, _ = _STUBS.pop(address(live), (None, None))
    if channel is not None:
        channel.close()


def test_loading_and_unloading_need_the_admin_token_as_over_rest(
    toy_store: Store, live_server: Start
) -> None:
    guarded = live_server("toy", grpc_port=0, admin_token=TOKEN)
    channel, service = stub(guarded)
    unload = service_pb2.RepositoryModelUnloadRequest(model_name="toy")
    with channel:
        code, details, _ = _code(lambda: service.RepositoryModelUnload(unload))
        assert code == grpc.StatusCode.UNAUTHENTICATED
        assert "Authorization: Bearer TOKEN" in details
        wrong = (("authorization", "Bearer not-the-token-at-all"),)
        code, details, _ = _code(lambda: service.RepositoryModelUnload(unload, metadata=wrong))
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "not this server's" in details
        assert service.ModelReady(service_pb2.ModelReadyRequest(name="toy")).ready
    off = live_server("toy", grpc_port=0)
    channel, service = stub(off)
    with channel:
        right = (("authorization", f"Bearer {TOKEN}"),)
        code, details, _ = _code(lambda: service.RepositoryModelLoad(
            service_pb2.RepositoryModelLoadRequest(model_name="toy"), metadata=right))  # fmt: skip
        assert code == grpc.StatusCode.PERMISSION_DENIED
        assert "--admin-token" in details
