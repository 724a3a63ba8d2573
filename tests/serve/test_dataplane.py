"""The data plane with a real echo model of every V2 datatype, over real HTTP and directly."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import orjson
import pytest
import yaml
from onnx import TensorProto, helper
from tests.serve.conftest import Start, recommend_int8, v2_input

from baton.config import Settings
from baton.core.refs import parse_ref
from baton.errors import BadInput
from baton.handover.register import register_handover
from baton.serve.dataplane import CHECKED
from baton.serve.protocol import NUMPY_DTYPES, InferRequest, InputTensor
from baton.store.store import Store, open_store

# V2 name -> (ONNX element type, manifest dtype)
TYPES = {
    "BOOL": (TensorProto.BOOL, "bool"),
    "UINT8": (TensorProto.UINT8, "uint8"),
    "UINT16": (TensorProto.UINT16, "uint16"),
    "UINT32": (TensorProto.UINT32, "uint32"),
    "UINT64": (TensorProto.UINT64, "uint64"),
    "INT8": (TensorProto.INT8, "int8"),
    "INT16": (TensorProto.INT16, "int16"),
    "INT32": (TensorProto.INT32, "int32"),
    "INT64": (TensorProto.INT64, "int64"),
    "FP16": (TensorProto.FLOAT16, "float16"),
    "FP32": (TensorProto.FLOAT, "float32"),
    "FP64": (TensorProto.DOUBLE, "float64"),
    "BYTES": (TensorProto.STRING, "string"),
}


def echo_handover(folder: Path, types: dict[str, tuple[int, str]] = TYPES) -> Path:
    """A model whose outputs ``out_T`` are its inputs ``in_T`` for every datatype T."""
    folder.mkdir(parents=True)
    names = [t.lower() for t in types]
    graph = helper.make_graph(
        [helper.make_node("Identity", [f"in_{n}"], [f"out_{n}"]) for n in names],
        "echo",
        [
            helper.make_tensor_value_info(f"in_{n}", t, ["b", 2])
            for n, (t, _) in zip(names, types.values(), strict=True)
        ],
        [
            helper.make_tensor_value_info(f"out_{n}", t, ["b", 2])
            for n, (t, _) in zip(names, types.values(), strict=True)
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(folder / "model.onnx"))
    specs = [(n, d) for n, (_, d) in zip(names, types.values(), strict=True)]
    rows = {f"in_{n}": np.zeros((2, 2), "U1" if d == "string" else d) for n, d in specs}
    np.savez(folder / "eval.npz", **rows)  # read at register: it must fit the inputs
    manifest = {
        "name": "echo",
        "owner": "research",
        "task": "generic",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": f"in_{n}", "dtype": d, "shape": [-1, 2]} for n, d in specs],
            "outputs": [{"name": f"out_{n}", "dtype": d, "shape": [-1, 2]} for n, d in specs],
        },
        "eval": {"data": "eval.npz"},
    }
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest))
    return folder


@pytest.fixture
def echo(sqlite_settings: Settings, tmp_path: Path) -> None:
    store = open_store(sqlite_settings)
    register_handover(store, echo_handover(tmp_path / "echo"), actor="tester")
    store.close()


def values(datatype: str) -> list[Any]:
    return {
        "BOOL": [True, False, False, True],
        "BYTES": ["a", "bé", "", "cat"],
        "FP16": [0.5, -1.0, 2.0, 1024.0],
        "FP32": [0.25, -1.5, 3.0, 1e10],
        "FP64": [0.1, -2.5, 1e300, 7.0],
    }.get(datatype, [0, 1, 2, 100])


def test_every_datatype_round_trips_through_a_real_model_in_json(
    echo: None, live_server: Start
) -> None:
    live = live_server("echo")
    inputs = [
        {"name": f"in_{t.lower()}", "datatype": t, "shape": [2, 2], "data": values(t)}
        for t in TYPES
    ]
    r = live.client.post("/v2/models/echo/infer", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    outputs = {o["name"]: o for o in r.json()["outputs"]}
    for t in TYPES:
        out = outputs[f"out_{t.lower()}"]
        assert out["datatype"] == t
        assert out["shape"] == [2, 2]
        if t in ("FP16", "FP32"):
            np.testing.assert_allclose(out["data"], values(t), rtol=1e-3)
        else:
            assert out["data"] == values(t)


def _blob(datatype: str) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values(datatype))
    return np.array(values(datatype), NUMPY_DTYPES[datatype]).tobytes()


def test_every_datatype_round_trips_through_a_real_model_in_binary(
    echo: None, live_server: Start
) -> None:
    live = live_server("echo")
    blobs = [_blob(t) for t in TYPES]
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": f"in_{t.lower()}",
                    "datatype": t,
                    "shape": [2, 2],
                    "parameters": {"binary_data_size": len(b)},
                }
                for t, b in zip(TYPES, blobs, strict=True)
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    r = live.client.post(
        "/v2/models/echo/infer",
        content=head + b"".join(blobs),
        headers={"Inference-Header-Content-Length": str(len(head))},
    )
    assert r.status_code == 200, r.text
    n = int(r.headers["inference-header-content-length"])
    pos = n
    for out, blob in zip(orjson.loads(r.content[:n])["outputs"], blobs, strict=True):
        size = out["parameters"]["binary_data_size"]
        assert r.content[pos : pos + size] == blob, out["name"]
        pos += size
    assert pos == len(r.content)


def test_direct_checks_name_the_tensor_and_the_fix(echo: None, live_server: Start) -> None:
    live = live_server("echo")
    assert live.app.runtime is not None
    plane = live.app.runtime.dataplane
    model = live.app.runtime.repository.get("echo")
    full = {
        t: InputTensor(f"in_{t.lower()}", t, (2, 2), np.zeros((2, 2), NUMPY_DTYPES[t]))
        for t in TYPES
    }
    feed, rows = plane.check_inputs(model, InferRequest(tuple(full.values())))
    assert rows == 2
    assert set(feed) == {f"in_{t.lower()}" for t in TYPES}
    partial = tuple(v for k, v in full.items() if k != "INT8")
    with pytest.raises(BadInput, match="missing input\\(s\\) 'in_int8'"):
        plane.check_inputs(model, InferRequest(partial))
    odd = dict(full)
    odd["INT8"] = InputTensor("in_int8", "INT8", (3, 2), np.zeros((3, 2), np.int8))
    with pytest.raises(BadInput, match="disagree on the batch size"):
        plane.check_inputs(model, InferRequest(tuple(odd.values())))
    empty = {
        t: InputTensor(f"in_{t.lower()}", t, (0, 2), np.zeros((0, 2), NUMPY_DTYPES[t]))
        for t in TYPES
    }
    with pytest.raises(BadInput, match="0 rows"):
        plane.check_inputs(model, InferRequest(tuple(empty.values())))
    meta = plane.model_metadata("echo")
    assert {"name": "in_bytes", "datatype": "BYTES", "shape": [-1, 2]} in meta["inputs"]
    assert meta["platform"] == "onnxruntime_onnx"


def test_remembered_checks_still_refuse_what_does_not_fit(echo: None, live_server: Start) -> None:
    """A shape checked once is not checked again, but a wrong type or shape under the same
    name still is; and what is remembered stays bounded (shapes come from clients)."""
    live = live_server("echo")
    assert live.app.runtime is not None
    plane = live.app.runtime.dataplane
    model = live.app.runtime.repository.get("echo")

    def full(rows: int) -> dict[str, InputTensor]:
        return {
            t: InputTensor(f"in_{t.lower()}", t, (rows, 2), np.zeros((rows, 2), NUMPY_DTYPES[t]))
            for t in TYPES
        }

    for _ in range(2):
        assert plane.check_inputs(model, InferRequest(tuple(full(2).values())))[1] == 2
        typed = full(2)
        typed["INT8"] = InputTensor("in_int8", "INT16", (2, 2), np.zeros((2, 2), np.int16))
        with pytest.raises(BadInput, match="'in_int8' is INT16 but echo:1 takes INT8"):
            plane.check_inputs(model, InferRequest(tuple(typed.values())))
        shaped = full(2)
        shaped["FP32"] = InputTensor("in_fp32", "FP32", (2, 3), np.zeros((2, 3), np.float32))
        with pytest.raises(BadInput, match="'in_fp32' has shape \\[2, 3\\]"):
            plane.check_inputs(model, InferRequest(tuple(shaped.values())))
    for rows in range(1, CHECKED // len(TYPES) + 5):
        plane.check_inputs(model, InferRequest(tuple(full(rows).values())))
    assert 0 < len(model.checked) <= CHECKED


def test_model_metadata_says_what_runs_and_where_each_setting_came_from(
    toy_store: Store, live_server: Start, tmp_path: Path
) -> None:
    """Issue 14.1: after an evaluation recommends int8, the registered model still serves
    (same outputs as ONNX Runtime on it), and the metadata says so; int8 only when asked."""
    import onnxruntime as ort

    evaluation = recommend_int8(toy_store, "toy:1", tmp_path / "q")
    info = toy_store.registry.resolve(parse_ref("toy:1"))
    rows = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    own = ort.InferenceSession(str(toy_store.artifacts.verified_path(info.sha256)))
    want = own.run(None, {"input": rows})[0]
    body = {"inputs": [v2_input(rows.ravel().tolist(), rows=64)]}
    served = {}
    for precision in (None, "recommended"):
        live = live_server("toy:1", precision=precision)
        params = live.client.get("/v2/models/toy").json()["parameters"]
        out = live.client.post("/v2/models/toy/infer", json=body).json()["outputs"][0]
        served[precision] = (params, np.array(out["data"], np.float32).reshape(64, 3))
    params, got = served[None]
    assert (params["owner"], params["alias"], params["model_sha256"]) == (
        "research",
        "",
        info.sha256,
    )
    assert (params["precision"], params["precision_source"]) == ("fp32", "default")
    assert (params["max_batch_size"], params["max_batch_size_source"]) == (256, "evaluation")
    assert (params["threads"], params["evaluation"]) == (2, evaluation)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    params, got = served["recommended"]
    assert (params["precision"], params["precision_source"]) == ("int8", "evaluation")
    assert params["model_sha256"] != info.sha256
    assert not np.allclose(got, want, rtol=0, atol=1e-7)  # the int8 copy answers differently


def test_an_answer_outside_the_signature_is_a_500_never_passed_on(
    sqlite_settings: Settings, tmp_path: Path, live_server: Start
) -> None:
    """A model that answers a fourth column for some inputs (its signature says three):
    those requests get a 500 naming the broken contract, the others their answer."""
    from tests.rollout.variant_models import write_version

    store = open_store(sqlite_settings)
    register_handover(store, write_version(tmp_path / "bad", "erroring"), actor="tester")
    store.close()
    server = live_server("toy:1")
    fine = server.client.post("/v2/models/toy/infer", json={"inputs": [v2_input([0.1] * 5)]})
    assert fine.status_code == 200, fine.text
    assert fine.json()["outputs"][0]["shape"] == [1, 3]
    broken = server.client.post("/v2/models/toy/infer", json={"inputs": [v2_input([1.9] * 5)]})
    assert broken.status_code == 500
    assert broken.json()["error"] == (
        "toy:1 answered probabilities with shape [1, 4], not [-1, 3] as its signature says "
        "(1 row(s) asked): the model broke its contract for this request"
    )
    metrics = server.client.get("/metrics").text
    assert 'baton_requests_total{code="500",model="toy",version="1"} 1.0' in metrics
