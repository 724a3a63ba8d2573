"""What the router adds: p50 latency and req/s, direct to ``baton serve`` against through
``baton router``, on the example model (digits).

.venv/bin/python bench/router.py [--quick] [--duration 5] [--rounds 3] [--concurrency 1 32]
                                 [--no-pin]

One ``baton serve`` of the digits classifier (one ONNX Runtime thread, pinned like
bench/serve.py's server to core 0) and one ``baton router`` in front of it (stable=100,
pinned to its own core where there is one); ``wrk`` (Debian package) sends single-row V2
JSON requests on N keep-alive connections from the last core. Direct and routed runs
alternate, ``--rounds`` times each, so both meet the same machine; the table gives the
median of each path's rounds and the difference. Last, ``--pairs`` requests go to each
path in turn from one Python client (c=1): the difference of the two p50s is the figure for
the target (issue 17: at most 0.3 ms added at p50), the one a busy machine moves least.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson
from serving.run import LUA_POST, Measured, free_port, need_wrk, running, wrk

from baton.config import Settings
from baton.core.signature import DType, TensorSpec
from baton.handover.register import register_handover
from baton.serve.curl import infer_body
from baton.store.store import open_store

INPUT = TensorSpec(name="input", dtype=DType.FLOAT32, shape=(-1, 64))
TARGET_MS = 0.3


def cores(pin: bool) -> tuple[str, str, str, str]:
    """(server core, router core, load core, a note): apart where there are enough cores."""
    count = os.cpu_count() or 1
    if not pin:
        every = f"0-{count - 1}"
        return every, every, every, "not pinned: the OS places them (a busy shared machine)"
    if count >= 3:
        return "0", "1", str(count - 1), "server, router and load on their own cores"
    return "0", "1", "1", "2 cores: the load generator shares core 1 with the router"


def prepare(root: Path) -> tuple[str, dict[str, str], Path]:
    """The digits model registered in a fresh store; its name, the env, wrk's script."""
    from baton.examples import digits

    settings = Settings(home=root / "home", user="bench")
    store = open_store(settings)
    try:
        name = register_handover(store, digits.build(root / "digits").folder, actor="bench")
    finally:
        store.close()
    row = np.random.default_rng(0).random(64).astype(np.float32)
    body = root / "body.json"
    body.write_bytes(orjson.dumps(infer_body(INPUT, row)))
    script = root / "post.lua"
    script.write_text(LUA_POST.format(body=body))
    env = {**os.environ, "BATON_HOME": str(settings.home), "BATON_USER": "bench"}
    return name.version.model, env, script


def measure(args: argparse.Namespace, name: str, env: dict[str, str], script: Path) -> None:
    server_core, router_core, load_core, note = cores(args.pin)
    binary = need_wrk()
    serve_port, router_port = free_port(), free_port()
    serve = [sys.executable, "-m", "baton.cli.main", "serve", name, "--port", str(serve_port),
             "--threads", "1", "--poll-interval", "0"]  # fmt: skip
    router = [sys.executable, "-m", "baton.cli.main", "router", name, "--port", str(router_port),
              "--stable", f"http://127.0.0.1:{serve_port}"]  # fmt: skip
    paths = {
        "direct": f"http://127.0.0.1:{serve_port}/v2/models/{name}/infer",
        "router": f"http://127.0.0.1:{router_port}/v2/models/{name}/infer",
    }
    print(f"pinning: server on {server_core}, router on {router_core}, load on {load_core} "
          f"({note})", flush=True)  # fmt: skip
    found: dict[tuple[str, int], list[Measured]] = {}
    with (
        running(serve, env, [serve_port], server_core),
        running(router, env, [router_port], router_core),
    ):
        for url in paths.values():
            wrk(binary, url, script, 8, 1.0, load_core)  # warm up both paths
        for c in args.concurrency:
            for _ in range(args.rounds):
                for path, url in paths.items():
                    m = wrk(binary, url, script, c, args.duration, load_core)
                    found.setdefault((path, c), []).append(m)
                    print(f"  {path:6s} c={c:<3d} {m.rps:9,.0f} req/s  p50 {m.p50_ms:6.3f} ms  "
                          f"p99 {m.p99_ms:7.3f} ms  errors {m.errors}", flush=True)  # fmt: skip
        paired = interleaved(serve_port, router_port, name, script, args.pairs)
    print()
    print(table(found, args.concurrency))
    print()
    print(paired)


def _exchange(sock: socket.socket, request: bytes) -> None:
    """One request on a kept-alive connection, its answer read whole (Content-Length)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"bench/router.py: a request failed: {head[:200]!r}")


def interleaved(serve_port: int, router_port: int, name: str, script: Path, pairs: int) -> str:
    """p50 of each path from requests sent one after the other, direct and routed in turn,
    so both meet the same moments of a busy machine (c=1, one Python client)."""
    body = Path(re.search(r'io.open\("(.+?)"', script.read_text()).group(1)).read_bytes()  # type: ignore[union-attr]
    head = (f"POST /v2/models/{name}/infer HTTP/1.1\r\nhost: b\r\ncontent-type: "
            f"application/json\r\ncontent-length: {len(body)}\r\n\r\n")  # fmt: skip
    request = head.encode() + body
    times: dict[str, list[float]] = {"direct": [], "router": []}
    with (
        socket.create_connection(("127.0.0.1", serve_port)) as direct,
        socket.create_connection(("127.0.0.1", router_port)) as routed,
    ):
        for sock in (direct, routed):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(pairs + 200):  # the first 200 pairs warm up
            order = (("direct", direct), ("router", routed)) if i % 2 else (
                ("router", routed), ("direct", direct))  # fmt: skip
            for path, sock in order:
                start = time.perf_counter()
                _exchange(sock, request)
                if i >= 200:
                    times[path].append(time.perf_counter() - start)
    p50 = {path: statistics.median(t) * 1e3 for path, t in times.items()}
    added = p50["router"] - p50["direct"]
    verdict = "within" if added <= TARGET_MS else "over"
    return (
        f"interleaved, c=1, {pairs} pairs: direct p50 {p50['direct']:.3f} ms, router p50 "
        f"{p50['router']:.3f} ms, added {added:+.3f} ms ({verdict} the {TARGET_MS} ms target)"
    )


def table(found: dict[tuple[str, int], list[Measured]], concurrency: list[int]) -> str:
    lines = [
        "| c | direct req/s | router req/s | direct p50 ms | router p50 ms | added p50 ms "
        "| router p99 ms | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in concurrency:
        direct, routed = found[("direct", c)], found[("router", c)]
        p50_d = statistics.median(m.p50_ms for m in direct)
        p50_r = statistics.median(m.p50_ms for m in routed)
        errors = sum(m.errors for m in (*direct, *routed))
        lines.append(
            f"| {c} | {statistics.median(m.rps for m in direct):,.0f} "
            f"| {statistics.median(m.rps for m in routed):,.0f} | {p50_d:.3f} | {p50_r:.3f} "
            f"| {p50_r - p50_d:+.3f} | {statistics.median(m.p99_ms for m in routed):.3f} "
            f"| {errors} |"
        )
    return "\n".join(lines)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="prove it runs: 1 s, 1 round")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per path and concurrency")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--pairs", type=int, default=5000, help="interleaved request pairs")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin server, router and load to cores (--no-pin: let the OS place them)",
    )
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.pairs = 1.0, 1, 500
    return args


def main() -> None:
    args = parse()
    if (os.cpu_count() or 1) < 2:
        sys.exit("bench/router.py pins the server and the load apart: it needs 2 or more cores")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")  # fmt: skip
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="baton-bench-router-") as tmp:
        name, env, script = prepare(Path(tmp))
        measure(args, name, env, script)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
