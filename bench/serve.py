"""Serving speed: ``baton serve`` against its peers, a bare HTTP ceiling, N workers and gRPC.

.venv/bin/python bench/serve.py [--quick] [--duration 5] [--concurrency 1 8 32 64]
                                [--models digits heavy] [--servers ...] [--workers N]

Every single-process server runs pinned to core 0 (``taskset -c 0``, one ONNX Runtime
thread); the load generator runs pinned to core 1. REST load is ``wrk`` (Debian package):
single-row V2 JSON requests on N keep-alive connections; gRPC load is ``h2load`` (Debian's
nghttp2-client): N concurrent single-row ``ModelInfer`` calls (raw contents) on one HTTP/2
connection, as one gRPC channel holds them (``ghz`` is packaged for neither Debian nor
PyPI, and a Python gRPC client spends ~250 µs of CPU a call: it, not the server, would be
measured). Each step also records the server's CPU per request (all its processes), the
load generator's CPU, and the load average: on a shared machine the CPU per request is the
figure that other work moves least. Two models: the digits classifier (~10 µs a row) and a
heavy MLP (64-1024-1024-1024-10, ~150 µs a row) built here. Measured in the same run:

- ``naive-def`` / ``naive-async``: the naive FastAPI endpoint (``reference/naive_fastapi.py``);
- ``bare``: ``reference/bare_http.py``, uvloop + httptools answering a fixed V2 response
  without a model (the ceiling of any Python HTTP stack on that core);
- ``baton-workers``: ``--workers N`` on cores 0..N-1 with the load on core N, or, with too
  few cores (2), on the last core, shared with a worker, as the table says; a one-worker
  server on core 0 runs beside it (``workers-1``) and the two alternate step by step;
- ``grpc``: baton with ``--grpc-port`` (one worker), ``h2load`` on its gRPC port and
  ``wrk`` on its REST port alternating step by step (``grpc-rest``), so the ratio compares
  figures taken side by side;
- ONNX Runtime called in-process (batch 1 and its best batch: the ceiling, in rows/s).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import orjson
import yaml
from serving.run import (
    LUA_POST,
    REFERENCE,
    Measured,
    Pinning,
    default_workers,
    free_port,
    h2load,
    many_cores,
    need,
    one_core,
    running,
    tree_cpu,
    wrk,
)
from serving.tables import Ceilings, Step, tables

from baton.config import Settings
from baton.core.signature import DType, TensorSpec
from baton.handover.register import register_handover
from baton.runtime.mlp import random_mlp
from baton.serve.curl import infer_body
from baton.serve.proto import grpc_v2_pb2 as pb
from baton.store.store import open_store

INPUT = TensorSpec(name="input", dtype=DType.FLOAT32, shape=(-1, 64))
SERVER_CORE = "0"
SERVERS = ["baton", "naive-def", "naive-async", "bare", "baton-workers", "grpc"]
LUA = LUA_POST


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


def baton_cmd(name: str, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "baton.cli.main", "serve", name, "--port", str(port),
            "--threads", "1", "--poll-interval", "0", *extra]  # fmt: skip


def server_plan(
    server: str, name: str, path: Path, answer: Path, env: dict[str, str], workers: int
) -> tuple[list[str], dict[str, str], list[int], Pinning]:
    """The command, environment, ports and pinning of one server under test."""
    port = free_port()
    if server == "baton":
        return baton_cmd(name, port), env, [port], one_core()
    if server == "baton-workers":
        cmd = baton_cmd(name, port, "--workers", str(workers))
        return cmd, env, [port], many_cores(workers, os.cpu_count() or 2)
    if server == "grpc":
        grpc = free_port()
        return baton_cmd(name, port, "--grpc-port", str(grpc)), env, [port, grpc], one_core()
    if server == "bare":
        cmd = [sys.executable, str(REFERENCE / "bare_http.py"), str(port), str(answer)]
        return cmd, env, [port], one_core()
    cmd = [sys.executable, "-m", "uvicorn", "naive_fastapi:app", "--port", str(port),
           "--log-level", "warning", "--no-access-log", "--app-dir", str(REFERENCE)]  # fmt: skip
    mode = {"BENCH_MODEL": str(path), "BENCH_ASYNC": "1" if server == "naive-async" else "0"}
    return cmd, {**env, **mode}, [port], one_core()


Drive = Callable[[int, float], Measured]


def measure_server(
    server: str, key: str, name: str, files: dict[str, Path], env: dict[str, str],
    args: argparse.Namespace, tools: dict[str, str],
) -> list[Step]:  # fmt: skip
    """Start one server for one model and drive it at every concurrency. Two rows that
    compare (REST and gRPC on one server; 1 and N workers, both servers up at once)
    alternate step by step, so a machine whose load moves moves both alike."""
    cmd, server_env, ports, pin = server_plan(
        server, name, files["model"], files["answer"], env, args.workers
    )

    def rest(port: int, core: str) -> Drive:
        url = f"http://127.0.0.1:{port}/v2/models/{name}/infer"
        return lambda c, seconds: wrk(tools["wrk"], url, files["lua"], c, seconds, core)

    def grpc(c: int, seconds: float) -> Measured:
        return h2load(tools["h2load"], ports[1], files["grpc"], c, seconds, pin.client,
                      ports[0])  # fmt: skip

    with ExitStack() as stack:
        pid = stack.enter_context(running(cmd, server_env, ports, pin.server))
        drivers: list[tuple[str, Drive, int, Pinning]] = [(server, rest(ports[0], pin.client),
                                                           pid, pin)]  # fmt: skip
        if server == "grpc":
            drivers = [("grpc-rest", drivers[0][1], pid, pin), ("grpc", grpc, pid, pin)]
        if server == "baton-workers":  # the one-worker server beside it, on core 0
            one_cmd, _, one_ports, one_pin = server_plan("baton", name, files["model"],
                                                         files["answer"], env, 1)  # fmt: skip
            one = stack.enter_context(running(one_cmd, server_env, one_ports, one_pin.server))
            drivers.insert(0, ("workers-1", rest(one_ports[0], one_pin.client), one, one_pin))
        for _, drive, _, _ in drivers:
            drive(8, 1.0)  # warm up
        return [
            step(label, key, c, drive, owner, where, args.duration)
            for c in args.concurrency
            for label, drive, owner, where in drivers
        ]


def step(
    label: str, key: str, c: int, drive: Drive, pid: int, pin: Pinning, seconds: float
) -> Step:
    """One measured step, with the server's CPU per request and the load when it ended."""
    cpu = tree_cpu(pid)
    m = drive(c, seconds)
    served = max(m.rps * max(1, round(seconds)), 1)
    m = replace(m, server_us=(tree_cpu(pid) - cpu) / served * 1e6, load=os.getloadavg()[0])
    print(f"  {label:13s} {key:7s} c={c:<3d} {m.rps:9,.0f} req/s  "
          f"p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:7.2f} ms  errors {m.errors}  "
          f"server {m.server_us:4.0f} µs/req  client CPU {m.client_cpu:.2f}  "
          f"load {m.load:.1f}", flush=True)  # fmt: skip
    return Step(label, key, c, m, str(pin))


def prepare(
    root: Path, key: str, name: str, model: Path, rng: np.random.Generator
) -> dict[str, Path]:
    """The request body (and wrk's script) and the fixed answer the bare server sends."""
    row = rng.random(64).astype(np.float32)
    body = root / f"{key}.json"  # both models take input: float32[?, 64]
    body.write_bytes(orjson.dumps(infer_body(INPUT, row)))
    lua = root / f"{key}.lua"
    lua.write_text(LUA.format(body=body))
    answer = root / f"{key}.answer.json"
    probabilities = rng.random((1, 10), dtype=np.float32)  # baton's answer, in shape and size
    answer.write_bytes(orjson.dumps({"model_name": name, "model_version": "1", "outputs": [
        {"name": "probabilities", "datatype": "FP32", "shape": [1, 10],
         "data": probabilities.ravel().tolist()}]}))  # fmt: skip
    np.save(root / f"{key}.row.npy", row)
    call = pb.ModelInferRequest(model_name=name, raw_input_contents=[row.tobytes()])
    call.inputs.add(name="input", datatype="FP32", shape=[1, 64])
    message = call.SerializeToString()
    grpc = root / f"{key}.grpc"  # one gRPC message: uncompressed, 4-byte length, the bytes
    grpc.write_bytes(b"\0" + len(message).to_bytes(4, "big") + message)
    return {"model": model, "lua": lua, "answer": answer, "row": root / f"{key}.row.npy",
            "grpc": grpc}  # fmt: skip


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="prove it runs: digits only, c=32, 1 s a step")  # fmt: skip
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per step")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32, 64])
    parser.add_argument("--models", nargs="+", default=["digits", "heavy"])
    parser.add_argument("--servers", nargs="+", default=SERVERS, choices=SERVERS)
    parser.add_argument(
        "--workers",
        type=int,
        default=default_workers(os.cpu_count() or 2),
        help="workers of the multi-worker rows (default: cores - 1; 2 on 2 cores)",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.concurrency, args.models = 1.0, [32], ["digits"]
    return args


def main() -> None:
    args = parse()
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench/serve.py pins server and client to separate cores: needs 2 or more")
    tools = {"wrk": need("wrk", "wrk"), "h2load": need("h2load", "nghttp2-client")}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, onnxruntime {ort.__version__}")  # fmt: skip
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    from baton.examples import digits

    steps: list[Step] = []
    ceilings: Ceilings = {}
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp:
        root = Path(tmp)
        settings = Settings(home=root / "home", user="bench")
        store = open_store(settings)
        builders = {"digits": lambda: digits.build(root / "digits").folder,
                    "heavy": lambda: heavy_handover(root / "h")}  # fmt: skip
        names: dict[str, str] = {}
        files: dict[str, dict[str, Path]] = {}
        rng = np.random.default_rng(0)
        for key in args.models:
            registered = register_handover(store, builders[key](), actor="bench")
            names[key] = registered.version.model
            path = store.artifacts.verified_path(registered.version.sha256)
            files[key] = prepare(root, key, names[key], path, rng)
        store.close()
        env = {**os.environ, "BATON_HOME": str(settings.home), "BATON_USER": "bench"}
        for key in args.models:
            row = np.load(files[key]["row"])
            ceilings[key] = ort_ceiling(files[key]["model"], row, 0.2 if args.quick else 1.0)
            b1, best, size = ceilings[key]
            print(f"{key}: in-process ONNX Runtime {b1:,.0f} rows/s at batch 1, "
                  f"{best:,.0f} at batch {size}", flush=True)  # fmt: skip
            for server in args.servers:
                steps += measure_server(server, key, names[key], files[key], env, args, tools)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print(tables(steps, ceilings, args.models, args.concurrency, args.workers))


if __name__ == "__main__":
    main()
