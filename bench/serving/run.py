"""Processes of the serving benchmark: servers pinned to their cores, and the load
generators (``wrk`` for REST, ``h2load`` for gRPC, both C) pinned to theirs; what each
step cost the server's processes in CPU, and the machine's load when it ended."""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
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


def need(tool: str, package: str) -> str:
    """A Debian-packaged load generator (``wrk``; ``h2load`` from nghttp2-client), installed
    with apt-get when run as root, else a one-line way to install it."""
    found = shutil.which(tool)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {tool} (apt-get install -y {package})...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=False)
        found = shutil.which(tool)
        if found:
            return found
    sys.exit(f"bench/serve.py needs {tool}: install it with `sudo apt-get install -y {package}`")


def need_wrk() -> str:
    return need("wrk", "wrk")


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and every descendant still alive (workers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    family, total = {pid}, 0.0
    for _ in range(4):  # server -> workers -> their threads' processes, if any
        family |= {child for child, parent in parents.items() if parent in family}
    for member in family:
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@contextmanager
def running(cmd: list[str], env: dict[str, str], ports: list[int], cores: str) -> Iterator[int]:
    """Start a server on ``cores``; once every port in ``ports`` accepts, its pid."""
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
        yield proc.pid
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
    client_cpu: float  # the load generator's CPU seconds per second (near 1: its ceiling)
    server_us: float = 0.0  # the server's CPU (all its processes) per request, in µs
    load: float = 0.0  # the machine's 1-minute load average when the step ended


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _percentile(out: str, which: str) -> float:
    """wrk's latency percentile in ms; NaN when it printed none (every request timed out)."""
    # the distribution's lines only: "+/- Stdev" figures such as 87.50% end in 50% too
    found = re.search(rf"^\s+{which}%\s+([\d.]+)(us|ms|s|m|h)\b", out, re.M)
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wrk(binary: str, url: str, script: Path, c: int, seconds: float, core: str) -> Measured:
    """One wrk run (one thread, ``c`` keep-alive connections) on ``core``."""
    duration = f"-d{max(1, round(seconds))}s"
    cmd = ["taskset", "-c", core, binary, "-t1", f"-c{c}", duration, "--latency"]
    before = _children_cpu()
    out = subprocess.run(
        [*cmd, "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    cpu = (_children_cpu() - before) / max(1, round(seconds))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50, p99 = _percentile(out, "50"), _percentile(out, "99")
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: (.*)"):
        found = re.search(pattern, out)
        if found:  # "connect 0, read 0, write 0, timeout 12": every kind counts
            errors += sum(int(n) for n in re.findall(r"\d+", found.group(1)))
    return Measured(rps, p50, p99, errors, cpu)


def grpc_failures(http_port: int) -> int:
    """Infer calls the server answered with anything but success (its own count: h2load
    sees HTTP statuses, and a failed gRPC call is HTTP 200 with grpc-status in trailers)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("baton_requests_total{") and 'code="200"' not in line
    )


def h2load(
    binary: str, port: int, body: Path, c: int, seconds: float, core: str, http_port: int
) -> Measured:
    """One h2load run on ``core``: ``c`` concurrent ModelInfer calls on one HTTP/2
    connection (one channel, as a gRPC client holds), the gRPC-framed request in ``body``."""
    failed_before = grpc_failures(http_port)
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        cmd = ["taskset", "-c", core, binary, "-D", str(max(1, round(seconds))), "-c", "1",
               "-m", str(c), "-d", str(body), "-H", "content-type: application/grpc",
               "-H", "te: trailers", f"--log-file={log.name}",
               f"http://127.0.0.1:{port}/inference.GRPCInferenceService/ModelInfer"]  # fmt: skip
        before = _children_cpu()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        cpu = (_children_cpu() - before) / max(1, round(seconds))
        times = sorted(int(line.split()[2]) for line in Path(log.name).read_text().splitlines())
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))  # type: ignore[union-attr]
    counts = re.search(r"(\d+) failed, (\d+) errored", out)
    statuses = re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    assert counts is not None and statuses is not None, out
    errors = sum(int(n) for n in counts.groups()) + sum(int(n) for n in statuses.groups())
    errors += grpc_failures(http_port) - failed_before
    p50 = times[len(times) // 2] / 1e3 if times else 0.0
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] / 1e3 if times else 0.0
    return Measured(rps, p50, p99, errors, cpu)
