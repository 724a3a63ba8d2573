"""Serving speed: ``baton serve`` against a naive FastAPI endpoint and the in-process ceiling.

.venv/bin/python bench/serve.py [--duration 5] [--concurrency 1 8 32 64] [--models digits heavy]

Every server runs pinned to core 0 (``taskset -c 0``, one ONNX Runtime thread); the load
generator, ``wrk`` (Debian package), runs pinned to core 1 and sends single-row V2 JSON
requests on N keep-alive connections. Two models: the digits classifier (~10 µs a row)
and a heavy MLP (64-1024-1024-1024-10, ~150 µs a row) built here. References, measured in
the same run with the same pinning: ONNX Runtime called in-process (batch 1, and its best
batch size: the ceiling, in rows/s), and the naive FastAPI endpoint (pydantic body, one
ONNX Runtime call per request) in both its ``def`` and ``async def`` forms; ratios are
against the faster of the two.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import orjson
import yaml

from baton.config import Settings
from baton.core.signature import DType, TensorSpec
from baton.handover.register import register_handover
from baton.runtime.mlp import random_mlp
from baton.serve.curl import infer_body
from baton.store.store import open_store

ROOT = Path(__file__).resolve().parent
INPUT = TensorSpec(name="input", dtype=DType.FLOAT32, shape=(-1, 64))
SERVER_CORE, CLIENT_CORE = "0", "1"
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open("{body}", "rb"):read("*a")
"""


@dataclass
class Step:
    server: str
    model: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


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


def heavy_handover(folder: Path) -> Path:
    folder.mkdir(parents=True)
    onnx.save(random_mlp([64, 1024, 1024, 1024, 10], seed=7), str(folder / "model.onnx"))
    np.savez(folder / "eval.npz", input=np.zeros((8, 64), np.float32), label=np.zeros(8, int))
    manifest = {
        "name": "heavy",
        "owner": "bench",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
        },
        "eval": {"data": "eval.npz"},
    }
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest))
    return folder


def ort_ceiling(path: Path, row: np.ndarray, seconds: float = 1.0) -> tuple[float, float, int]:
    """Rows/s in-process at batch 1 and at the best batch size (pinned to the server core)."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(SERVER_CORE)})
    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        results: dict[int, float] = {}
        for batch in (1, 8, 32, 64, 128, 256):
            feed = {"input": np.repeat(row[None, :], batch, axis=0).astype(np.float32)}
            session.run(None, feed)
            calls, start = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds:
                session.run(None, feed)
                calls += 1
            results[batch] = calls * batch / elapsed
        best = max(results, key=results.__getitem__)
        return results[1], results[best], best
    finally:
        os.sched_setaffinity(0, before)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running(cmd: list[str], env: dict[str, str], port: int, model: str) -> Iterator[str]:
    """Start a server pinned to the server core; yield its infer URL once it answers."""
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CORE, *cmd],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/v2/models/{model}/infer"
    try:
        deadline = time.monotonic() + 120
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
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def drive(wrk: str, url: str, script: Path, concurrency: int, seconds: float) -> tuple[float, ...]:
    """One wrk run on the client core: (req/s, p50 ms, p99 ms, errors)."""
    duration = f"-d{max(1, round(seconds))}s"
    cmd = ["taskset", "-c", CLIENT_CORE, wrk, "-t1", f"-c{concurrency}", duration]
    out = subprocess.run(
        [*cmd, "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    errors = 0
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: .*?(\d+)"):
        found = re.search(pattern, out)
        errors += int(found.group(1)) if found else 0
    return rps, p50, p99, float(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per step")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--models", nargs="+", default=["digits", "heavy"])
    parser.add_argument("--servers", nargs="+", default=["baton", "naive-def", "naive-async"])
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench/serve.py pins server and client to separate cores: needs 2 or more")
    wrk = need_wrk()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, onnxruntime {ort.__version__}"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    from baton.examples import digits

    steps: list[Step] = []
    ceilings: dict[str, tuple[float, float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(home=root / "home", user="bench")
        store = open_store(settings)
        folders = {
            "digits": digits.build(root / "digits").folder,
            "heavy": heavy_handover(root / "h"),
        }
        names: dict[str, str] = {}
        paths: dict[str, Path] = {}
        for key in args.models:
            registered = register_handover(store, folders[key], actor="bench")
            names[key] = registered.version.model
            paths[key] = store.artifacts.verified_path(registered.version.sha256)
        store.close()
        env = {**os.environ, "BATON_HOME": str(settings.home), "BATON_USER": "bench"}
        rng = np.random.default_rng(0)
        for key in args.models:
            row = rng.random(64).astype(np.float32)
            body = root / f"{key}.json"  # both models take input: float32[?, 64]
            body.write_bytes(orjson.dumps(infer_body(INPUT, row)))
            script = root / f"{key}.lua"
            script.write_text(LUA.format(body=body))
            ceilings[key] = ort_ceiling(paths[key], row)
            print(
                f"{key}: in-process ONNX Runtime {ceilings[key][0]:,.0f} rows/s at batch 1, "
                f"{ceilings[key][1]:,.0f} at batch {ceilings[key][2]}",
                flush=True,
            )
            for server in args.servers:
                port = free_port()
                if server == "baton":
                    cmd = [
                        sys.executable,
                        "-m",
                        "baton.cli.main",
                        "serve",
                        names[key],
                        "--port",
                        str(port),
                        "--threads",
                        "1",
                        "--poll-interval",
                        "0",
                    ]
                    server_env = env
                else:
                    cmd = [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "naive_fastapi:app",
                        "--port",
                        str(port),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                        "--app-dir",
                        str(ROOT / "reference"),
                    ]
                    server_env = {
                        **env,
                        "BENCH_MODEL": str(paths[key]),
                        "BENCH_ASYNC": "1" if server == "naive-async" else "0",
                    }
                with running(cmd, server_env, port, names[key]) as url:
                    drive(wrk, url, script, 8, 1.0)  # warm up
                    for c in args.concurrency:
                        rps, p50, p99, errors = drive(wrk, url, script, c, args.duration)
                        steps.append(Step(server, key, c, rps, p50, p99, int(errors)))
                        print(
                            f"  {server:12s} {key:7s} c={c:<3d} {rps:9,.0f} req/s  "
                            f"p50 {p50:6.2f} ms  p99 {p99:7.2f} ms  errors {int(errors)}",
                            flush=True,
                        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(table(steps, ceilings, args))


def table(
    steps: list[Step], ceilings: dict[str, tuple[float, float, int]], args: argparse.Namespace
) -> str:
    by = {(s.server, s.model, s.concurrency): s for s in steps}
    lines = [
        "| model | c | baton req/s | naive req/s (best of def/async) | ratio | baton p50 ms | "
        "naive p50 ms | p50 diff ms | baton p99 ms | in-process ceiling rows/s (batch 1 / best) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for model in args.models:
        for c in args.concurrency:
            ours = by.get(("baton", model, c))
            naive = [by[k] for k in (("naive-def", model, c), ("naive-async", model, c)) if k in by]
            if ours is None or not naive:
                continue
            best_rps = max(n.rps for n in naive)
            best_p50 = min(n.p50_ms for n in naive)
            b1, best, size = ceilings[model]
            lines.append(
                f"| {model} | {c} | {ours.rps:,.0f} | {best_rps:,.0f} | "
                f"{ours.rps / best_rps:.2f}x | {ours.p50_ms:.2f} | {best_p50:.2f} | "
                f"{ours.p50_ms - best_p50:+.2f} | {ours.p99_ms:.2f} | "
                f"{b1:,.0f} / {best:,.0f} (batch {size}) |"
            )
    failed = sum(s.errors for s in steps)
    lines.append("")
    lines.append(f"failed requests across all steps: {failed}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
