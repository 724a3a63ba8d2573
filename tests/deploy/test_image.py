"""The image build context works: its steps, carried out in a fresh venv (no container
runtime here), install baton from the context's wheel and lock in hash-checking mode, and the
ENTRYPOINT + CMD serve V2 from the baked model folder, ready by the image's own HEALTHCHECK."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

from baton.store.store import Store
from tests.baton_cli import free_port
from tests.deploy.conftest import render_toy
from tests.deploy.dockerfile import Image, build, instructions
from tests.waiting import wait_until

INSTALL_S = 900.0  # the lock from the package index (a local mirror here, else PyPI)


def test_instructions_join_continuations_and_drop_comments() -> None:
    text = '# c\nFROM x\nRUN a \\\n    && b\n\nCMD ["s"]\n'
    assert instructions(text) == [("FROM", "x"), ("RUN", "a      && b"), ("CMD", '["s"]')]


def command(image: Image, port: int) -> list[str]:
    """ENTRYPOINT + CMD as the container runs them: image paths mapped into the root
    folder, the port moved to a free one (the only change)."""
    argv = [*image.entrypoint, *image.cmd]
    argv = [str(image.path(a)) if a.startswith("/") and image.path(a).exists() else a for a in argv]
    at = argv.index("--port") + 1
    return [*argv[:at], str(port), *argv[at + 1 :]]


@pytest.mark.image
@pytest.mark.timeout(1500)
def test_the_image_context_installs_and_serves(
    evaluated: Store, wheel: Path, tmp_path: Path
) -> None:
    out = render_toy(evaluated, tmp_path / "o", wheel, "image").out
    steps = instructions((out / "image/Dockerfile").read_text())
    (install,) = [args for keyword, args in steps if keyword == "RUN"]
    assert "pip install --no-cache-dir --require-hashes" in install  # the lock's hashes count
    image = build(out / "image/Dockerfile", tmp_path / "rootfs", sys.executable, INSTALL_S)
    assert image.user == "10001:10001"
    assert not image.path("/opt/baton/wheels").exists()  # the RUN step cleaned up after itself
    assert image.path("/var/lib/baton/router/README").is_file()  # the router's state volume
    site = subprocess.run(
        ["python", "-c", "import baton; print(baton.__file__)"], env=image.environ(),
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    assert site.startswith(str(image.venv)), site  # the installed wheel, not this checkout
    port = free_port()
    argv = command(image, port)
    assert argv[:4] == ["baton", "serve", "--model-dir", str(image.path("/mnt/models"))]
    proc = subprocess.Popen(
        argv, cwd=image.path(image.workdir), env=image.environ(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: _healthy(image, proc, port), "the HEALTHCHECK to pass", timeout=300)
        _infer(f"http://127.0.0.1:{port}", image.path("/mnt/models/model.onnx"))
    finally:
        proc.send_signal(signal.SIGTERM)  # what `docker stop` sends
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]


def _healthy(image: Image, proc: subprocess.Popen[str], port: int) -> bool:
    assert proc.poll() is None, proc.communicate()[1][-3000:]
    probe = [a.replace(":8080/", f":{port}/") for a in image.healthcheck]
    run = subprocess.run(probe, env=image.environ(), capture_output=True, timeout=60, check=False)
    return run.returncode == 0


def _infer(url: str, model: Path) -> None:
    rows = np.array([[0.5, -1.0, 2.0, 0.25], [1.0, 2.0, 3.0, 4.0]], np.float32)
    want = ort.InferenceSession(str(model)).run(None, {"input": rows})[0]
    body = {"inputs": [
        {"name": "input", "datatype": "FP32", "shape": [2, 4], "data": rows.ravel().tolist()}
    ]}  # fmt: skip
    r = httpx.post(f"{url}/v2/models/toy/infer", json=body, timeout=60)
    assert r.status_code == 200, r.text
    (output,) = r.json()["outputs"]
    np.testing.assert_allclose(np.reshape(output["data"], (2, 3)), want, rtol=1e-6)
    meta = httpx.get(f"{url}/v2/models/toy", timeout=60).json()
    assert meta["parameters"]["max_batch_size_source"] == "evaluation"
