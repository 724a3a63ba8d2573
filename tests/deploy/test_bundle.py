"""A rendered model folder serves what was rendered: run the Deployment's own ``baton serve``
arguments (paths and ports moved to this machine) and the server says int8 in its V2
model metadata, computes with the int8 copy, and answers on gRPC too; a folder rendered
at fp32 holds no int8 copy, and asking it for one names the render that makes it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import yaml

from baton.serve.model_dir import open_model_dir
from baton.store.store import Store
from tests.baton_cli import baton, clean_env, free_port, serving
from tests.deploy.conftest import render_toy

ROWS = np.array([[0.5, -1.0, 2.0, 0.25], [1.0, 2.0, 3.0, 4.0]], np.float32)


def container_args(out: Path, grpc_port: int) -> list[str]:
    """The Deployment's ``baton`` arguments, with what differs on this machine replaced:
    the model folder, the loopback address, a free gRPC port (``serving`` adds --port)."""
    deployment = next(yaml.safe_load_all((out / "k8s/toy-v1.yaml").read_text()))
    args: list[str] = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    local = {"/mnt/models": str(out / "model"), "0.0.0.0": "127.0.0.1", "8081": str(grpc_port)}
    assert args[0] == "serve"
    return [local.get(a, a) for a in args[1:]]


def test_a_rendered_int8_folder_serves_int8_over_http_and_grpc(
    int8_evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    done = render_toy(int8_evaluated, tmp_path / "o", wheel, "k8s", precision="int8",
                      grpc_port=8081)  # fmt: skip
    grpc_port = free_port()
    args = container_args(done.out, grpc_port)
    assert args[-4:] == ["--precision", "int8", "--grpc-port", str(grpc_port)]
    env = clean_env(tmp_path / "nohome", BATON_DB_URL="sqlite:////nonexistent/x.db")
    with serving(env, *args) as url:
        meta = httpx.get(f"{url}/v2/models/toy", timeout=30).json()
        assert meta["parameters"]["precision"] == "int8"
        assert meta["parameters"]["precision_source"] == "flag"
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [2, 4],
                            "data": ROWS.ravel().tolist()}]}  # fmt: skip
        r = httpx.post(f"{url}/v2/models/toy/infer", json=body, timeout=30)
        assert r.status_code == 200, r.text
        want, fp32 = (
            ort.InferenceSession(str(done.out / "model" / name)).run(None, {"input": ROWS})[0]
            for name in ("model.int8.onnx", "model.onnx")
        )
        assert not np.allclose(want, fp32, rtol=1e-6)  # else this could not tell them apart
        got = np.reshape(r.json()["outputs"][0]["data"], want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-6)
        _grpc_says_int8(grpc_port)


def _grpc_says_int8(port: int) -> None:
    from tritonclient import grpc as tgrpc

    client = tgrpc.InferenceServerClient(url=f"127.0.0.1:{port}")
    try:
        assert client.is_model_ready("toy")
        meta = client.get_model_metadata("toy", as_json=True)
        assert meta["name"] == "toy" and meta["versions"] == ["1"]
    finally:
        client.close()


def test_an_fp32_folder_asked_for_int8_names_the_render_that_makes_one(
    int8_evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    out = render_toy(int8_evaluated, tmp_path / "o", wheel, "k8s").out
    folder = out / "model"
    assert not (folder / "model.int8.onnx").exists()
    assert open_model_dir(folder).serving is not None  # the recommendation travels all the same
    env = clean_env(tmp_path / "nohome", BATON_DB_URL="sqlite:////nonexistent/x.db")
    r = baton(env, "serve", "--model-dir", str(folder), "--precision", "int8",
              "--port", str(free_port()))  # fmt: skip
    assert r.returncode != 0
    assert "render it with `baton deploy render toy:1 --precision int8`" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_derived_file_must_name_the_model_it_came_from(
    int8_evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    from baton.errors import BadInput

    folder = render_toy(int8_evaluated, tmp_path / "o", wheel, "k8s", precision="int8").out
    index_path = folder / "model" / "MANIFEST.json"
    index = json.loads(index_path.read_text())
    (derived,) = [f for f in index["files"] if f["role"] == "derived"]
    for tie in ("0" * 64, None):
        if tie is None:
            derived.pop("derived_from")
        else:
            derived["derived_from"] = tie
        index_path.write_text(json.dumps(index))
        with pytest.raises(BadInput, match="only a derived file names derived_from"):
            open_model_dir(folder / "model")
