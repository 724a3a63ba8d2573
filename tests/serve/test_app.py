"""The real server over HTTP: every V2 route, the binary extension, limits and bad input."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import onnxruntime as ort
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.serve.conftest import ADMIN, ADMIN_TOKEN, LiveServer, Start, v2_input

from baton.core.refs import Ref
from baton.serve.app import INFER_PATHS
from baton.store.store import Store

ROW = [0.5, -1.0, 2.0, 0.25]


def reference(store: Store, version: int, rows: np.ndarray) -> np.ndarray:
    """What ONNX Runtime itself gives for the stored model, to compare the server with."""
    info = store.registry.resolve(Ref("toy", version))
    session = ort.InferenceSession(str(store.artifacts.verified_path(info.sha256)))
    return np.asarray(session.run(None, {"input": rows.astype(np.float32)})[0])


def test_health_server_and_model_metadata(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy")
    c = live.client
    assert c.get("/v2/health/live").json() == {"live": True}
    assert c.get("/v2/health/ready").status_code == 200
    meta = c.get("/v2").json()
    assert meta["name"] == "baton"
    assert "binary_tensor_data" in meta["extensions"]
    model = c.get("/v2/models/toy").json()
    assert model["name"] == "toy"
    assert model["versions"] == ["1"]  # bare name routes to @production
    assert model["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert model["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
    assert c.get("/v2/models/toy/versions/1").json()["versions"] == ["1"]
    assert c.get("/v2/models/toy/ready").json() == {"name": "toy", "ready": True}
    assert c.get("/v2/models/toy/versions/1/ready").status_code == 200
    index = c.post("/v2/repository/index").json()
    assert index == [{"name": "toy", "version": "1", "state": "READY", "reason": ""}]


def test_infer_json_matches_onnx_runtime(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy")
    rows = np.array([ROW, [1.0, 2.0, 3.0, 4.0]], np.float32)
    body = {"id": "req-7", "inputs": [v2_input(rows.ravel().tolist(), rows=2)]}
    r = live.client.post("/v2/models/toy/infer", json=body)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == "req-7"
    assert doc["model_name"] == "toy"
    assert doc["model_version"] == "1"
    (out,) = doc["outputs"]
    assert out["name"] == "probabilities"
    assert out["datatype"] == "FP32"
    assert out["shape"] == [2, 3]
    want = reference(toy_store, 1, rows)
    np.testing.assert_allclose(np.array(out["data"]).reshape(2, 3), want, rtol=1e-6)


def test_nested_data_and_named_version(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy", "toy:2")
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [ROW]}]}
    r1 = live.client.post("/v2/models/toy/infer", json=body).json()
    r2 = live.client.post("/v2/models/toy/versions/2/infer", json=body).json()
    assert r1["model_version"] == "1"
    assert r2["model_version"] == "2"
    np.testing.assert_allclose(
        r2["outputs"][0]["data"], reference(toy_store, 2, np.array([ROW]))[0], rtol=1e-6
    )
    assert r1["outputs"][0]["data"] != r2["outputs"][0]["data"]


def test_binary_tensor_data_extension(toy_store: Store, live_server: Start) -> None:
    """A request with a binary input and a binary output, as tritonclient sends it."""
    live = live_server("toy")
    rows = np.array([ROW, ROW[::-1], [0, 0, 0, 1]], np.float32)
    blob = rows.astype("<f4").tobytes()
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [3, 4],
                    "parameters": {"binary_data_size": len(blob)},
                }
            ],
            "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}],
        }
    )
    r = live.client.post(
        "/v2/models/toy/infer",
        content=head + blob,
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert r.status_code == 200, r.text
    json_len = int(r.headers["inference-header-content-length"])
    doc = orjson.loads(r.content[:json_len])
    (out,) = doc["outputs"]
    size = out["parameters"]["binary_data_size"]
    assert size == 3 * 3 * 4
    got = np.frombuffer(r.content[json_len : json_len + size], "<f4").reshape(out["shape"])
    np.testing.assert_allclose(got, reference(toy_store, 1, rows), rtol=1e-6)


def test_binary_data_output_for_all_outputs(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy")
    body = {"inputs": [v2_input(ROW)], "parameters": {"binary_data_output": True}}
    r = live.client.post("/v2/models/toy/infer", json=body)
    n = int(r.headers["inference-header-content-length"])
    assert "data" not in orjson.loads(r.content[:n])["outputs"][0]
    assert len(r.content) == n + 3 * 4


BAD = [
    (b"{not json", None, "not valid JSON"),
    (b"[1, 2]", None, "JSON object"),
    (b'{"inputs": []}', None, "non-empty list"),
    (
        b'{"inputs": [{"name": "pixels", "datatype": "FP32", "shape": [1, 4], '
        b'"data": [1, 2, 3, 4]}]}',
        None,
        "unknown input 'pixels'",
    ),
    (
        b'{"inputs": [{"name": "input", "datatype": "INT64", "shape": [1, 4], '
        b'"data": [1, 2, 3, 4]}]}',
        None,
        "is INT64 but toy:1 takes FP32",
    ),
    (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 5], '
        b'"data": [1, 2, 3, 4, 5]}]}',
        None,
        "has shape [1, 5] but toy:1 takes [-1, 4]",
    ),
    (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4], '
        b'"data": [1, 2, 3, 4]}]}',
        None,
        "has 4 values but shape [2, 4] needs 8",
    ),
    (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], '
        b'"data": [1, 2, "x", 4]}]}',
        None,
        "must be numbers",
    ),
    (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], '
        b'"data": [1, 2, NaN, 4]}]}',
        None,
        "not valid JSON",
    ),
    (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], '
        b'"parameters": {"binary_data_size": 64}}]}',
        0,  # replaced by the JSON length: then 64 bytes are promised but none follow
        "goes beyond the body",
    ),
    (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], '
        b'"data": [1, 2, 3, 4]}], "outputs": [{"name": "logits"}]}',
        None,
        "unknown output 'logits'",
    ),
    (
        b'{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], '
        b'"data": [1, 2, 3, 4]}]}',
        9999,
        "Inference-Header-Content-Length is 9999",
    ),
]


@pytest.mark.parametrize(("body", "header", "says"), BAD)
def test_bad_requests_get_400_naming_the_problem(
    toy_store: Store, live_server: Start, body: bytes, header: int | None, says: str
) -> None:
    live = live_server("toy")
    headers = {}
    if header is not None:
        headers["Inference-Header-Content-Length"] = str(header or len(body))
    r = live.client.post("/v2/models/toy/infer", content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert says in r.json()["error"]
    # the server is still healthy and serving afterwards
    ok = live.client.post("/v2/models/toy/infer", json={"inputs": [v2_input(ROW)]})
    assert ok.status_code == 200


def test_nan_in_binary_input_is_refused_unless_allowed(
    toy_store: Store, live_server: Start
) -> None:
    blob = np.array([[1, np.nan, 2, 3]], "<f4").tobytes()
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": [1, 4],
                    "parameters": {"binary_data_size": 16},
                }
            ]
        }
    )
    headers = {"Inference-Header-Content-Length": str(len(head))}
    strict = live_server("toy")
    r = strict.client.post("/v2/models/toy/infer", content=head + blob, headers=headers)
    assert r.status_code == 400
    assert "NaN or Infinity (first at flat index 1)" in r.json()["error"]
    lenient = live_server("toy", allow_nonfinite=True)
    r = lenient.client.post("/v2/models/toy/infer", content=head + blob, headers=headers)
    assert r.status_code == 200
    assert r.json()["outputs"][0]["data"] == [None, None, None]  # NaN has no JSON form


def test_unknown_model_version_route_and_method(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy")
    c = live.client
    body = {"inputs": [v2_input(ROW)]}
    r = c.post("/v2/models/nope/infer", json=body)
    assert r.status_code == 404
    assert "'nope' is not served here (served: toy)" in r.json()["error"]
    r = c.post("/v2/models/toy/versions/7/infer", json=body)
    assert r.status_code == 404
    assert "version '7'" in r.json()["error"]
    assert c.get("/v2/models/toy/versions/7/ready").status_code == 404
    assert c.get("/v3/anything").status_code == 404
    assert c.get("/v2/models/toy/infer").status_code == 405


def test_a_remembered_infer_path_keeps_every_check(toy_store: Store, live_server: Start) -> None:
    """The infer route skips parsing a path it has seen, never the method or model checks."""
    live = live_server("toy")
    c = live.client
    body = {"inputs": [v2_input(ROW)]}
    for _ in range(2):
        assert c.post("/v2/models/toy/infer", json=body).status_code == 200
        assert c.get("/v2/models/toy/infer").status_code == 405
        assert c.post("/v2/models/nope/infer", json=body).status_code == 404
        assert c.post("/v2/models/toy/versions/7/infer", json=body).status_code == 404
        answer = c.post("/v2/models/toy/versions/1/infer", json=body).json()
        assert answer["model_version"] == "1"
    for i in range(INFER_PATHS + 5):  # paths come from clients: what is kept is bounded
        assert c.post(f"/v2/models/m{i}/infer", json=body).status_code == 404
    assert len(live.app._infer_paths) <= INFER_PATHS
    assert c.post("/v2/models/toy/infer", json=body).status_code == 200


def test_body_over_the_limit_is_413(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy", max_body_bytes=2048)
    rows = np.zeros((200, 4), np.float32)
    r = live.client.post(
        "/v2/models/toy/infer", json={"inputs": [v2_input(rows.ravel().tolist(), rows=200)]}
    )
    assert r.status_code == 413
    assert "larger than this server's limit of 2048 bytes" in r.json()["error"]


def test_full_queue_is_429_with_retry_after(toy_store: Store, live_server: Start) -> None:
    """With a one-request queue, a burst of concurrent requests meets clear refusals."""
    live = live_server("toy", max_queue=1)
    rows = np.random.default_rng(0).normal(size=(20_000, 4)).astype(np.float32)
    blob = rows.tobytes()
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "input",
                    "datatype": "FP32",
                    "shape": list(rows.shape),
                    "parameters": {"binary_data_size": len(blob)},
                }
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def call() -> None:
        r = live.client.post(
            "/v2/models/toy/infer",
            content=head + blob,
            headers={"Inference-Header-Content-Length": str(len(head))},
        )
        with lock:
            results.append((r.status_code, r.headers.get("retry-after")))

    threads = [threading.Thread(target=call) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = [code for code, _ in results]
    assert set(codes) <= {200, 429}
    assert 200 in codes
    assert 429 in codes
    assert all(int(after) >= 1 for code, after in results if code == 429 and after)
    assert all(after is not None for code, after in results if code == 429)


def test_metrics_use_the_contract_names(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy")
    for _ in range(3):
        live.client.post("/v2/models/toy/infer", json={"inputs": [v2_input(ROW)]})
    live.client.post("/v2/models/toy/infer", content=b"{")
    text = live.client.get("/metrics").text
    assert 'baton_requests_total{code="200",model="toy",version="1"} 3.0' in text
    assert 'baton_requests_total{code="400",model="toy",version="1"} 1.0' in text
    assert 'baton_request_duration_seconds_count{model="toy",version="1"} 4.0' in text
    assert 'baton_queue_duration_seconds_count{model="toy",version="1"} 3.0' in text
    assert 'baton_compute_duration_seconds_count{model="toy",version="1"}' in text
    assert 'baton_batch_size_bucket{le="1.0",model="toy",version="1"}' in text
    assert 'baton_inflight_requests{model="toy",version="1"} 0.0' in text
    assert 'baton_model_info{alias="production",model="toy",owner="research",version="1"} 1.0' in (
        text
    )
    assert "process_resident_memory_bytes" in text
    assert "process_cpu_seconds_total" in text


def test_tritonclient_works_unchanged(toy_store: Store, live_server: Start) -> None:
    """Triton's own V2 HTTP client, in JSON and in binary mode, against the real server."""
    httpclient = pytest.importorskip("tritonclient.http", reason="pip install tritonclient[http]")
    from tritonclient.utils import InferenceServerException

    live = live_server("toy")
    client = httpclient.InferenceServerClient(url=live.url.removeprefix("http://"))
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert client.is_model_ready("toy")
        assert client.get_model_metadata("toy")["inputs"][0]["shape"] == [-1, 4]
        rows = np.array([ROW, [4.0, 3.0, 2.0, 1.0]], np.float32)
        want = reference(toy_store, 1, rows)
        for binary in (False, True):
            tensor = httpclient.InferInput("input", [2, 4], "FP32")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            output = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
            result = client.infer("toy", [tensor], outputs=[output], request_id="t1")
            np.testing.assert_allclose(result.as_numpy("probabilities"), want, rtol=1e-6)
            assert result.get_response()["id"] == "t1"
        wrong = httpclient.InferInput("input", [1, 3], "FP32")
        wrong.set_data_from_numpy(np.zeros((1, 3), np.float32))
        with pytest.raises(InferenceServerException, match=r"takes \[-1, 4\]"):
            client.infer("toy", [wrong])
    finally:
        client.close()


def test_a_stalled_upload_never_holds_up_other_requests(
    toy_store: Store, live_server: Start
) -> None:
    """A request joins a batch only once its body is complete: a slow client waits alone."""
    live = live_server("toy")
    host, port = live.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as slow:
        slow.sendall(
            b"POST /v2/models/toy/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 5000\r\n\r\n{"inputs": [{"name": "input", '
        )
        for _ in range(20):
            r = live.client.post("/v2/models/toy/infer", json={"inputs": [v2_input(ROW)]})
            assert r.status_code == 200
        text = live.client.get("/metrics").text
        assert 'baton_inflight_requests{model="toy",version="1"} 1.0' in text  # the stalled one
    # the stalled client went away mid-body: nothing breaks, the gauge returns to zero
    for _ in range(50):
        text = live.client.get("/metrics").text
        if 'baton_inflight_requests{model="toy",version="1"} 0.0' in text:
            break
        time.sleep(0.05)
    assert 'baton_inflight_requests{model="toy",version="1"} 0.0' in text
    assert live.client.post("/v2/models/toy/infer", json={"inputs": [v2_input(ROW)]}).is_success


TENSOR = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["input", "other"]),
        "datatype": st.sampled_from(["FP32", "FP64", "INT64", "BOOL", "BYTES", "FP16"]),
        "shape": st.lists(st.integers(0, 5), min_size=0, max_size=3),
        "data": st.lists(
            st.one_of(st.floats(allow_nan=False, width=32), st.integers(-3, 3), st.booleans()),
            max_size=24,
        ),
    }
)


@given(
    st.lists(TENSOR, min_size=1, max_size=2),
    st.one_of(
        st.none(),
        st.lists(
            st.fixed_dictionaries({"name": st.sampled_from(["probabilities", "nope"])}), max_size=2
        ),
    ),
)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_fuzzed_requests_over_http_get_200_or_400_never_5xx(
    toy_store: Store, live_server: Start, inputs: list[dict[str, object]], outputs: object
) -> None:
    live: LiveServer | None = getattr(live_server, "fuzz_target", None)
    if live is None:  # one server for all examples of this test
        live = live_server("toy")
        live_server.fuzz_target = live  # type: ignore[attr-defined]
    doc: dict[str, object] = {"inputs": inputs}
    if outputs is not None:
        doc["outputs"] = outputs
    r = live.client.post("/v2/models/toy/infer", content=orjson.dumps(doc))
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["error"]


def test_a_client_that_leaves_mid_body_is_counted_499_never_5xx(
    toy_store: Store, live_server: Start
) -> None:
    """A disconnect is the client's doing: a 5xx would spend the error budget for nothing."""
    live = live_server("toy")
    host, port = live.url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as leaving:
            leaving.sendall(
                b"POST /v2/models/toy/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{"
            )
            wait_for_metric(live, 'baton_inflight_requests{model="toy",version="1"} 1.0')
    text = wait_for_metric(live, 'baton_requests_total{code="499",model="toy",version="1"} 3.0')
    assert 'code="500"' not in text
    assert 'baton_request_duration_seconds_count{model="toy",version="1"} 0.0' in text


def wait_for_metric(live: LiveServer, line: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        text = live.client.get("/metrics").text
        if line in text or time.monotonic() > deadline:
            assert line in text
            return text
        time.sleep(0.02)


def test_load_and_unload_are_off_without_an_admin_token(
    toy_store: Store, live_server: Start
) -> None:
    live = live_server("toy")
    for action in ("load", "unload"):
        r = live.client.post(f"/v2/repository/models/toy/{action}", headers=ADMIN)
        assert r.status_code == 403
        assert "start it with --admin-token" in r.json()["error"]
    assert live.client.post("/v2/models/toy/infer", json={"inputs": [v2_input(ROW)]}).is_success


def test_load_and_unload_need_the_admin_token(toy_store: Store, live_server: Start) -> None:
    live = live_server("toy", admin_token=ADMIN_TOKEN)
    unload = "/v2/repository/models/toy/unload"
    r = live.client.post(unload)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert live.client.post(unload, headers={"Authorization": "Basic eDp5"}).status_code == 401
    for wrong in ("x", ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", ADMIN_TOKEN.upper()):
        r = live.client.post(unload, headers={"Authorization": f"Bearer {wrong}"})
        assert r.status_code == 403
        assert r.json() == {"error": "the admin token is not this server's"}
    infer = {"inputs": [v2_input(ROW)]}
    assert live.client.post("/v2/models/toy/infer", json=infer).is_success  # still served
    assert live.client.post(unload, headers=ADMIN).json() == {"name": "toy", "unloaded": True}
    assert live.client.post("/v2/models/toy/infer", json=infer).status_code == 404
    r = live.client.post("/v2/repository/models/toy/load", headers=ADMIN)
    assert r.json() == {"name": "toy", "versions": ["1"]}
    assert live.client.post("/v2/models/toy/infer", json=infer).is_success


def test_tritonclient_reads_model_config_and_statistics(
    toy_store: Store, live_server: Start
) -> None:
    """Triton's extensions its clients call first: configuration and statistics (issue 18)."""
    httpclient = pytest.importorskip("tritonclient.http", reason="pip install tritonclient[http]")
    from google.protobuf import json_format
    from tritonclient.grpc import model_config_pb2
    from tritonclient.utils import InferenceServerException

    live = live_server("toy", "toy:2", max_batch_size=8, max_queue_delay_ms=0.5, max_queue=77)
    client = httpclient.InferenceServerClient(url=live.url.removeprefix("http://"))
    try:
        config = client.get_model_config("toy")
        assert config["max_batch_size"] == 8
        assert config["input"] == [
            {"name": "input", "data_type": "TYPE_FP32", "format": "FORMAT_NONE", "dims": [4]}
        ]
        assert config["output"] == [
            {"name": "probabilities", "data_type": "TYPE_FP32", "dims": [3]}
        ]
        assert config["dynamic_batching"] == {
            "max_queue_delay_microseconds": 500,
            "default_queue_policy": {"max_queue_size": 77},
        }
        assert config["instance_group"] == [{"name": "toy", "kind": "KIND_CPU", "count": 1}]
        assert config["parameters"]["max_batch_size_source"] == {"string_value": "flag"}
        json_format.ParseDict(config, model_config_pb2.ModelConfig())  # Triton's schema
        assert client.get_model_config("toy", "2")["version_policy"] == {
            "specific": {"versions": [2]}
        }
        rows = np.array([ROW, ROW], np.float32)
        for _ in range(3):
            tensor = httpclient.InferInput("input", [2, 4], "FP32")
            tensor.set_data_from_numpy(rows)
            client.infer("toy", [tensor])
        bad = httpclient.InferInput("input", [1, 4], "FP32")
        bad.set_data_from_numpy(np.array([[np.nan, 0, 0, 0]], np.float32))
        with pytest.raises(InferenceServerException, match="NaN"):
            client.infer("toy", [bad])
        (one,) = client.get_inference_statistics("toy", "1")["model_stats"]
        stats = one["inference_stats"]
        assert stats["success"]["count"] == 3
        assert stats["fail"]["count"] == 1
        assert stats["queue"]["count"] == stats["compute_infer"]["count"] == 3
        assert stats["success"]["ns"] >= stats["compute_infer"]["ns"] > 0
        assert one["inference_count"] == 6  # rows
        assert (
            sum(b["compute_infer"]["count"] for b in one["batch_stats"]) == one["execution_count"]
        )
        every = client.get_inference_statistics()["model_stats"]
        assert sorted((s["name"], s["version"]) for s in every) == [("toy", "1"), ("toy", "2")]
        assert len(client.get_inference_statistics("toy")["model_stats"]) == 2
        with pytest.raises(InferenceServerException, match="not served here"):
            client.get_model_config("nope")
        with pytest.raises(InferenceServerException, match="version '9'"):
            client.get_inference_statistics("toy", "9")
    finally:
        client.close()
