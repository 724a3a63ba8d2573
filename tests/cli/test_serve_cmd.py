"""``baton serve`` and ``baton quickstart`` as real processes: bad input, and a served curl."""

from __future__ import annotations

import json
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.baton_cli import baton, clean_env, free_port
from tests.handover_factory import write_handover


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
        r = baton(env, "serve", "toy", "--port", str(busy.getsockname()[1]))
    assert r.returncode == 2
    assert "cannot listen on 127.0.0.1" in r.stderr
    assert "Traceback" not in r.stderr


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
