"""Processes of the serving benchmark: servers pinned to their cores, and the load
generators (``wrk`` for REST, ``reference/grpc_load.py`` for gRPC) pinned to theirs."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REFERENCE = Path(__file__).resolve().parent.parent / "reference"
# wrk's script: POST one JSON body (the file named by {body}) on every request
LUA_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}", "rb"):read("*a")
"""


@dataclass(frozen=True)
class Pinning:
    """Where a server and its load generator run."""

    server: str  # taskset list, e.g. "0" or "0-1"
    client: str  # one core

    @property
    def shared(self) -> bool:
        return self.client in _cores(self.server)

    def __str__(self) -> str:
        tail = " (shared: too few cores to keep them apart)" if self.shared else ""
        return f"server on {self.server}, load on {self.client}{tail}"


def _cores(spec: str) -> set[str]:
    first, _, last = spec.partition("-")
    return {str(c) for c in range(int(first), int(last or first) + 1)}


def one_core() -> Pinning:
    return Pinning("0", "1")


def many_cores(workers: int, cores: int) -> Pinning:
    """N workers on cores 0..N-1, the load on the next core, or on the last when none is
    left (a 2-core machine: 2 workers, and the load shares core 1 with one of them)."""
    server = "0" if workers == 1 else f"0-{min(workers, cores) - 1}"
    return Pinning(server, str(min(workers, cores - 1)))


def default_workers(cores: int) -> int:
    return cores - 1 if cores >= 3 else 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get install -y wrk)...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False)
        found = shutil.which("wrk")
        if found:
            return found
    sys.exit("bench/serve.py needs wrk: install it with `sudo apt-get install -y wrk`")


@contextmanager
def running(cmd: list[str], env: dict[str, str], ports: list[int], cores: str) -> Iterator[None]:
    """Start a server on ``cores``; return once every port in ``ports`` accepts."""
    proc = subprocess.Popen(
        ["taskset", "-c", cores, *cmd], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        for port in ports:
            while True:
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise SystemExit(f"server {' '.join(cmd)} exited:\n{err}")
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"server {' '.join(cmd)} did not start") from None
                    time.sleep(0.2)
        time.sleep(0.5 if len(ports) > 1 or "--workers" in cmd else 0)  # every worker up
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Measured:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    client_cpu: float | None = None  # the load generator's CPU seconds per second


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(binary: str, url: str, script: Path, c: int, seconds: float, core: str) -> Measured:
    """One wrk run (one thread, ``c`` keep-alive connections) on ``core``."""
    duration = f"-d{max(1, round(seconds))}s"
    cmd = ["taskset", "-c", core, binary, "-t1", f"-c{c}", duration, "--latency"]
    out = subprocess.run(
        [*cmd, "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    # the distribution's lines only: "+/- Stdev" figures such as 87.50% end in 50% too
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: .*?(\d+)"):
        found = re.search(pattern, out)
        errors += int(found.group(1)) if found else 0
    return Measured(rps, p50, p99, errors)


def grpc_load(
    port: int, model: str, c: int, seconds: float, core: str, env: dict[str, str]
) -> Measured:
    """One run of the Python gRPC load generator on ``core``."""
    script = str(REFERENCE / "grpc_load.py")
    cmd = ["taskset", "-c", core, sys.executable, script, f"127.0.0.1:{port}", model]
    out = subprocess.run(
        [*cmd, str(c), str(seconds)], capture_output=True, text=True, check=True, env=env
    ).stdout
    value = json.loads(out.strip().splitlines()[-1])
    return Measured(
        value["rps"], value["p50_ms"], value["p99_ms"], int(value["errors"]), value["cpu_share"]
    )
