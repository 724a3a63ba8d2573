"""The rendered Ray Serve config runs: a real local Ray (``serve run``) serves V2 through
``baton.deploy.ray_app``, and ``deploy check`` validates the config with Ray's own schema."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import yaml

from baton.deploy.check import check_dir
from baton.deploy.ray import DEPLOYMENT, IMPORT_PATH
from baton.deploy.ray_app import BatonModel, app
from baton.deploy.service import RenderRequest, render
from baton.errors import BadInput
from baton.store.store import Store
from tests.baton_cli import free_port
from tests.waiting import wait_until

START_S = 300.0  # Ray on a loaded 2-core machine: a minute is usual, five is not a hang


def render_ray(store: Store, out: Path) -> Path:
    render(store, "tester", RenderRequest(ref="toy:1", targets=("ray",), out=out))
    return out


def local_config(out: Path, port: int) -> dict[str, Any]:
    """The rendered config, changed only where a laptop differs from a cluster: the
    address, where the model folder is, and a quarter core per replica."""
    config: dict[str, Any] = yaml.safe_load((out / "ray/serve_config.yaml").read_text())
    config["http_options"] = {"host": "127.0.0.1", "port": port}
    (application,) = config["applications"]
    application["args"]["model_dir"] = str(out / "model")
    application["deployments"][0]["ray_actor_options"]["num_cpus"] = 0.25
    return config


@pytest.fixture
def ray_serve(evaluated: Store, tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """``serve run`` on the rendered config; yields the URL once V2 says ready."""
    out = render_ray(evaluated, tmp_path / "o")
    port = free_port()
    config = local_config(out, port)
    path = tmp_path / "serve_config.yaml"
    path.write_text(yaml.safe_dump(config))
    serve = shutil.which("serve", path=str(Path(sys.executable).parent)) or "serve"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)  # a fresh local Ray, never someone's cluster
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [serve, "run", str(path)], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, "Ray Serve to serve the model", timeout=START_S, every=1.0)
        yield url, out, config
    finally:
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as an operator stops ``serve run``: it shuts Serve and its local Ray down."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this test started, only
            proc.wait(timeout=30)


def reference(out: Path, rows: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(out / "model" / "model.onnx"))
    return np.asarray(session.run(None, {"input": rows})[0])


@pytest.mark.timeout(900)
def test_ray_serve_runs_the_rendered_config(
    ray_serve: tuple[str, Path, dict[str, Any]],
) -> None:
    url, out, config = ray_serve
    rendered = yaml.safe_load((out / "ray/serve_config.yaml").read_text())
    deployment = config["applications"][0]["deployments"][0]
    assert deployment["autoscaling_config"] == {
        "min_replicas": 1, "initial_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 8,
    }  # fmt: skip
    assert deployment == {**rendered["applications"][0]["deployments"][0],
                          "ray_actor_options": {"num_cpus": 0.25}}  # fmt: skip
    rows = np.array([[0.5, -1.0, 2.0, 0.25], [1.0, 2.0, 3.0, 4.0]], np.float32)
    want = reference(out, rows)
    _infer_with_httpx(url, rows, want)
    _infer_with_tritonclient(url, rows, want)


def _infer_with_httpx(url: str, rows: np.ndarray, want: np.ndarray) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        meta = client.get("/v2/models/toy").json()
        assert (meta["versions"], meta["parameters"]["max_batch_size"]) == (["1"], 16)
        assert meta["parameters"]["max_batch_size_source"] == "evaluation"
        body = {"id": "r1", "inputs": [
            {"name": "input", "datatype": "FP32", "shape": [2, 4], "data": rows.ravel().tolist()}
        ]}  # fmt: skip
        r = client.post("/v2/models/toy/infer", json=body)
        assert r.status_code == 200, r.text
        (output,) = r.json()["outputs"]
        assert (r.json()["id"], output["shape"]) == ("r1", [2, 3])
        np.testing.assert_allclose(np.reshape(output["data"], (2, 3)), want, rtol=1e-6)
        bad = client.post("/v2/models/toy/infer", json={"inputs": []})
        assert bad.status_code == 400 and "error" in bad.json()
        assert client.get("/v2/models/nope").status_code == 404
        metrics = client.get("/metrics").text  # one replica: its counters are all there are
        assert 'baton_requests_total{code="200",model="toy",version="1"} 1.0' in metrics
        assert 'baton_requests_total{code="400",model="toy",version="1"} 1.0' in metrics


def _infer_with_tritonclient(url: str, rows: np.ndarray, want: np.ndarray) -> None:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=url.removeprefix("http://"))
    try:
        assert client.is_server_ready() and client.is_model_ready("toy")
        for binary in (False, True):
            tensor = httpclient.InferInput("input", [2, 4], "FP32")
            tensor.set_data_from_numpy(rows, binary_data=binary)
            output = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
            result = client.infer("toy", [tensor], outputs=[output], request_id="t1")
            np.testing.assert_allclose(result.as_numpy("probabilities"), want, rtol=1e-6)
    finally:
        client.close()


def test_deploy_check_uses_rays_schema(evaluated: Store, tmp_path: Path) -> None:
    out = render_ray(evaluated, tmp_path / "o")
    assert check_dir(out) == []
    path = out / "ray/serve_config.yaml"
    text = path.read_text()
    text = text.replace("initial_replicas: 1", "initial_replicas: 9")
    text = text.replace("target_ongoing_requests", "target_ongoing_request")
    text = text.replace("max_ongoing_requests: 32", "max_ongoing_requests: 0")
    path.write_text(text)
    at = "ray/serve_config.yaml: applications.0.deployments.0"
    assert sorted(check_dir(out)) == [
        f"{at}.autoscaling_config.target_ongoing_request: unknown key (Ray would ignore it)",
        f"{at}.autoscaling_config: Value error, max_replicas (3) must be greater than or "
        "equal to initial_replicas (9)!",
        "ray/serve_config.yaml: applications.0.deployments.0.max_ongoing_requests: "
        "Input should be greater than 0",
        "ray/serve_config.yaml: changed since it was rendered (sha256 differs)",
    ]


def test_deploy_check_survives_a_ray_config_of_the_wrong_shape(tmp_path: Path) -> None:
    (tmp_path / "ray").mkdir()
    (tmp_path / "ray/serve_config.yaml").write_text("applications: 3\n")
    problems = check_dir(tmp_path)
    assert any(p.startswith("ray/serve_config.yaml: applications: ") for p in problems), problems


def test_the_rendered_import_path_is_this_builder() -> None:
    module, _, attr = IMPORT_PATH.partition(":")
    assert getattr(importlib.import_module(module), attr) is app
    assert BatonModel.name == DEPLOYMENT


@pytest.mark.parametrize(
    ("args", "why"),
    [({}, "model_dir"), ({"model_dir": ""}, "model_dir"), ({"model_dir": "/m", "x": 1}, "x")],
)
def test_the_builder_refuses_bad_args_in_one_line(args: dict[str, Any], why: str) -> None:
    with pytest.raises(BadInput, match=why) as caught:
        app(args)
    assert caught.value.message.startswith("Ray Serve args: ")
    assert "\n" not in caught.value.message
