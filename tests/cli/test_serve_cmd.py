"""``baton serve`` and ``baton quickstart`` as real processes: bad input, and a served curl."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from baton.config import Settings
from baton.core.refs import parse_ref
from baton.store.store import Store, open_store
from tests.baton_cli import baton, clean_env, free_port, serving
from tests.handover_factory import write_handover
from tests.serve.conftest import damage, recommend_int8


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", BATON_USER="cli-tester")


def test_unknown_model_bad_options_and_busy_port_are_one_line_and_exit_2(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    r = baton(env, "serve", "nope", "--port", str(free_port()))
    assert r.returncode == 2
    assert "unknown model 'nope' (known models: toy)" in r.stderr
    assert "Traceback" not in r.stderr
    r = baton(env, "serve", "toy@production", "--port", str(free_port()))
    assert r.returncode == 2
    assert "toy has no alias @production" in r.stderr
    r = baton(env, "serve", "toy", "--port", "70000", "--workers", "0")
    assert r.returncode == 2
    assert "--port 70000 must lie in 0..65535; --workers must be at least 1" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = baton(env, "serve", "toy", "--port", str(port))
    assert r.returncode == 2
    # issue 14.4: nothing announced, and the holder named (this test's own process)
    assert "serving" not in r.stdout
    assert "curl" not in r.stdout
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use): pid {os.getpid()} (" in (
        r.stderr.replace("\n", "")
    )
    assert "Traceback" not in r.stderr


def test_quickstart_on_a_taken_port_fails_at_once(env: dict[str, str], tmp_path: Path) -> None:
    """Issue 14.4: the port is taken before the training and the gate, not after (53 s)."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = baton(env, "quickstart", "--dir", str(tmp_path / "qs"), "--port", str(port))
    assert r.returncode == 2
    assert f"pid {os.getpid()}" in r.stderr
    assert r.stdout == ""
    assert not (tmp_path / "qs").exists()


@pytest.fixture
def evaluated(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Store, int]]:
    """``toy:1`` whose evaluation recommends its int8 copy at batch 256, 2 threads."""
    store = open_store(Settings(home=Path(env["BATON_HOME"]), user="cli-tester"))
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    evaluation = recommend_int8(store, "toy:1", tmp_path / "q")
    yield store, evaluation
    store.close()


@contextmanager
def announced(env: dict[str, str], *args: str) -> Iterator[tuple[str, list[str]]]:
    """``baton serve ARGS``: (its URL, the lines it printed up to "metrics at ...")."""
    port = free_port()
    cmd = [sys.executable, "-m", "baton.cli.main", "serve", *args, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("metrics at"):
                break
        assert lines and lines[-1].startswith("metrics at"), proc.stderr.read()  # type: ignore[union-attr]
        yield f"http://127.0.0.1:{port}", lines
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_start_up_says_precision_batch_size_and_threads_and_where_each_came_from(
    env: dict[str, str], evaluated: tuple[Store, int]
) -> None:
    """Issue 14.1: an int8 recommendation does not change the served model silently."""
    _, n = evaluated
    rec = f"evaluation {n}'s recommendation"
    with announced(env, "toy") as (url, lines):
        # announced only once true: the server answers at once, no retry needed
        assert httpx.get(f"{url}/v2/health/ready").status_code == 200
        params = httpx.get(f"{url}/v2/models/toy").json()["parameters"]
    assert lines == [
        f"serving toy:1 (toy) at {url}/v2/models/toy",
        f"  fp32 (default: the registered model), batch 256 ({rec}), 2 threads ({rec}), "
        f"queue delay 2 ms ({rec})",
        f"  evaluation {n} recommends int8 (its outputs differ a little from the registered "
        "model's): --precision int8 serves it",
        f"metrics at {url}/metrics; stop with Ctrl-C or SIGTERM",
    ]
    assert (params["precision"], params["precision_source"]) == ("fp32", "default")
    with announced(env, "toy", "--precision", "recommended", "--threads", "1") as (url, lines):
        params = httpx.get(f"{url}/v2/models/toy").json()["parameters"]
    assert lines[1] == (
        f"  int8 ({rec}), batch 256 ({rec}), 1 thread (--threads), queue delay 2 ms ({rec})"
    )
    assert (params["precision"], params["threads"], params["threads_source"]) == (
        "int8",
        1,
        "flag",
    )
    r = baton(env, "serve", "toy", "--precision", "fp16", "--port", str(free_port()))
    assert r.returncode == 2
    assert "--precision fp16 must be one of fp32, int8, recommended" in r.stderr


@pytest.mark.parametrize("precision", [[], ["--precision", "recommended"]])
def test_a_damaged_version_does_not_serve_and_the_error_names_the_file(
    env: dict[str, str], evaluated: tuple[Store, int], precision: list[str]
) -> None:
    """Issue 14.2: not even from its (intact) int8 copy; `baton verify` agrees."""
    store, _ = evaluated
    info = store.registry.resolve(parse_ref("toy:1"))
    damage(store, info.sha256)
    r = baton(env, "serve", "toy:1", *precision, "--port", str(free_port()), timeout=60)
    assert r.returncode == 1
    assert "serving" not in r.stdout
    message = r.stderr.replace("\n", "")
    assert "toy:1 will not be served: its model file model.onnx failed verification" in message
    assert "Traceback" not in r.stderr
    verify = baton(env, "verify")
    assert verify.returncode == 1
    assert "it will not be used" in verify.stdout.replace("\n", "")


def test_quickstart_serves_and_its_curl_works(env: dict[str, str], digits_handover: Path) -> None:
    port = free_port()
    args = ["quickstart", "--dir", str(digits_handover), "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "baton.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        curl = ""
        for line in proc.stdout:
            if line.startswith("curl "):
                curl = line.strip()
                break
        assert curl, proc.stderr.read() if proc.stderr else "no curl line"
        deadline = time.monotonic() + 60
        while True:  # the server starts just after printing the command
            out = subprocess.run(shlex.split(curl), capture_output=True, text=True, check=False)
            if out.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        doc = json.loads(out.stdout)
        assert doc["model_name"] == "digits-classifier"
        (probs,) = doc["outputs"]
        assert probs["shape"] == [1, 10]
        assert abs(sum(probs["data"]) - 1) < 1e-4
        assert max(range(10), key=probs["data"].__getitem__) in range(10)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
    assert code == 0


@contextmanager
def json_line(env: dict[str, str], *args: str) -> Iterator[dict[str, object]]:
    """``baton ARGS`` running: the one JSON line it prints once ready; SIGTERM afterwards."""
    cmd = [sys.executable, "-m", "baton.cli.main", *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


def test_serve_json_says_once_serving_what_runs_and_why(
    env: dict[str, str], evaluated: tuple[Store, int]
) -> None:
    """Issue 14.12: `baton serve --json` prints one JSON object, only once it serves."""
    _, n = evaluated
    with json_line(env, "serve", "toy", "--json", "--port", "0", "--threads", "1") as doc:
        base = str(doc["url"])
        (model,) = doc["models"]  # type: ignore[misc]
        # true when said: the model answers at once, no retry
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                            "data": [0.1, 0.2, 0.3, 0.4]}]}  # fmt: skip
        done = httpx.post(f"{model['url']}/infer", json=body)
        assert done.status_code == 200, done.text
    assert doc["metrics"] == f"{base}/metrics" and base.startswith("http://127.0.0.1:")
    assert (model["requested"], model["ref"], model["version"]) == ("toy", "toy:1", 1)
    plan = model["plan"]
    assert (plan["precision"], plan["max_batch_size"], plan["threads"]) == ("fp32", 256, 1)
    assert plan["sources"] == {"precision": "default", "max_batch_size": "evaluation",
                               "threads": "flag", "max_queue_delay_ms": "evaluation"}  # fmt: skip
    assert (plan["evaluation"], plan["recommended_precision"]) == (n, "int8")
    assert "--precision int8 serves it" in plan["hint"]


def test_quickstart_json(env: dict[str, str], digits_handover: Path) -> None:
    """Issue 14.12: one JSON object; once serving when it serves, with a curl that works."""
    args = ("quickstart", "--dir", str(digits_handover), "--json")
    with json_line(env, *args, "--port", "0") as doc:
        out = subprocess.run(shlex.split(str(doc["curl"])), capture_output=True, text=True,
                             check=True)  # fmt: skip
    assert json.loads(out.stdout)["model_name"] == "digits-classifier"
    registered = doc["registered"]
    assert registered["created"] is True  # type: ignore[index]
    assert registered["version"]["number"] == 1  # type: ignore[index]
    assert doc["evaluation"]["passed"] is True  # type: ignore[index]
    assert Path(str(doc["report"])).is_file()
    assert doc["serving"]["models"][0]["ref"] == "digits-classifier:1"  # type: ignore[index]
    again = baton(env, *args, "--no-serve")
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)  # nothing but the JSON on stdout
    assert second["registered"]["created"] is False and "serving" not in second
    assert second["evaluation"]["id"] == doc["evaluation"]["id"]  # type: ignore[index]


def test_port_limits_are_checked_in_one_line(env: dict[str, str], tmp_path: Path) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    r = baton(env, "serve", "toy", "--header-timeout", "0", "--max-body-mb", "8",
              "--body-budget-mb", "4", "--admin-token", "short")  # fmt: skip
    assert r.returncode == 2
    line = r.stderr.strip()
    assert "--header-timeout must be a number of seconds above 0" in line
    assert "--body-budget-mb must be at least --max-body-mb" in line
    assert "the admin token must be at least 16 characters" in line
    assert "\n" not in line


def test_the_admin_token_comes_from_the_setting_too(env: dict[str, str], tmp_path: Path) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    token = "a-token-from-the-environment-0123"
    unload = "/v2/repository/models/toy/unload"
    with serving({**env, "BATON_SERVE_ADMIN_TOKEN": token}, "toy") as url:
        assert httpx.post(url + unload, timeout=10).status_code == 401
        r = httpx.post(url + unload, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.json() == {"name": "toy", "unloaded": True}
    with serving(env, "toy") as url:  # without one: off
        assert httpx.post(url + unload, timeout=10).status_code == 403


def test_the_audit_knows_every_serve_option_that_takes_a_value() -> None:
    """The audit reads `baton serve` command lines in Kubernetes manifests: an option it did
    not know would have its value taken for a model reference."""
    import typer.main

    from baton.audit.serve_args import SERVE_VALUE_OPTIONS
    from baton.cli.serve_cmd import serve

    app = typer.Typer(add_completion=False)
    app.command()(serve)
    command = typer.main.get_command(app)
    taking = {
        name
        for param in command.params
        if param.param_type_name == "option" and not getattr(param, "is_flag", False)
        for name in param.opts
    }
    assert "--max-body-mb" in taking
    assert taking <= SERVE_VALUE_OPTIONS


def test_workers_take_a_number_or_auto(env: dict[str, str], tmp_path: Path) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    r = baton(env, "serve", "toy", "--port", str(free_port()), "--workers", "many")
    assert r.returncode == 2
    assert "--workers 'many' must be a whole number or auto" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_model_dir_needs_no_registry(env: dict[str, str], tmp_path: Path) -> None:
    """``--model-dir``: the folder alone serves (the database named does not exist)."""
    from baton.deploy.bundle import write_model_dir

    store = open_store(Settings(home=Path(env["BATON_HOME"]), user="cli-tester"))
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    info = store.registry.resolve(parse_ref("toy:1"))
    write_model_dir(store, info, None, tmp_path / "m")
    store.close()
    bare = clean_env(tmp_path / "empty-home", BATON_DB_URL="sqlite:////nonexistent/x.db")
    with serving(bare, "--model-dir", str(tmp_path / "m")) as url:
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                            "data": [0.1, 0.2, 0.3, 0.4]}]}  # fmt: skip
        answer = httpx.post(f"{url}/v2/models/toy/infer", json=body, timeout=10)
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"
    assert not (tmp_path / "empty-home").exists()  # nothing written: no store, no targets
    r = baton(bare, "serve", "toy", "--model-dir", str(tmp_path / "m"))
    assert r.returncode == 2 and "give models to serve or --model-dir, not both" in r.stderr
    r = baton(bare, "serve", "--model-dir", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such folder" in r.stderr
