"""``baton serve --grpc-port`` as a real process: announced, refused in one line when the
port is taken, and drained on SIGTERM with gRPC calls in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from tests.baton_cli import baton, clean_env, free_port
from tests.handover_factory import write_handover
from tests.serve.conftest import Start
from tests.waiting import overlap, wait_until
from tritonclient import grpc as tgrpc
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from baton.store.store import Store

ROWS = 3000  # a few hundred ms per request on the heavy model


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = clean_env(tmp_path / "home", BATON_USER="tester")
    heavy = write_handover(tmp_path / "heavy", name="heavy", seed=3, inputs=64, classes=10,
                           hidden=(1024, 1024))  # fmt: skip
    assert baton(env, "register", str(heavy)).returncode == 0
    return env


Served = tuple["subprocess.Popen[bytes]", str, str]


@pytest.fixture
def serve(env: dict[str, str]) -> Iterator[Callable[..., Served]]:
    """Start ``baton serve ARGS --port P --grpc-port G``; (process, URL, gRPC target)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> Served:
        port, grpc_port = free_port(), free_port()
        cmd = [sys.executable, "-m", "baton.cli.main", "serve", *args, "--port", str(port),
               "--grpc-port", str(grpc_port)]  # fmt: skip
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
            try:
                return httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, "baton serve to answer", timeout=60)
        return proc, url, f"127.0.0.1:{grpc_port}"

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def served(serve: Callable[..., Served]) -> Served:
    return serve("heavy", "--drain-timeout", "120")


def heavy_input() -> tgrpc.InferInput:
    tensor = tgrpc.InferInput("input", [ROWS, 64], "FP32")
    tensor.set_data_from_numpy(np.random.default_rng(0).normal(size=(ROWS, 64)).astype("<f4"))
    return tensor


def inflight(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("baton_inflight_requests{"))
    return float(line.split()[-1])


def test_sigterm_drains_grpc_calls_in_flight_and_refuses_new_ones(
    served: Served,
) -> None:
    proc, url, target = served
    results: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        client = tgrpc.InferenceServerClient(target)
        try:
            shape = client.infer("heavy", [heavy_input()]).as_numpy("probabilities").shape
            outcome = str(shape)
        except InferenceServerException as exc:
            outcome = f"{exc.status()}: {exc.message()}"
        finally:
            client.close()
        with lock:
            results.append(outcome)

    def burst() -> list[threading.Thread]:
        results.clear()
        started = [threading.Thread(target=call) for _ in range(6)]
        for t in started:
            t.start()
        return started

    threads = overlap(burst, lambda: inflight(url), 6)
    proc.send_signal(signal.SIGTERM)

    def refused() -> str:
        client = tgrpc.InferenceServerClient(target)
        try:
            client.is_server_live(client_timeout=2)
        except InferenceServerException as exc:
            return str(exc.status())
        finally:
            client.close()
        return ""

    assert wait_until(refused, "new gRPC calls refused", timeout=30) == "StatusCode.UNAVAILABLE"
    for t in threads:
        t.join(120)
    assert proc.wait(120) == 0
    assert results == [f"({ROWS}, 10)"] * 6
    assert b"Traceback" not in (proc.stderr.read() if proc.stderr else b"")


def test_grpc_port_is_announced_and_a_taken_one_is_one_line(env: dict[str, str]) -> None:
    port = free_port()
    r = baton(env, "serve", "heavy", "--port", str(port), "--grpc-port", str(port))
    assert r.returncode == 2
    assert f"--grpc-port {port} must lie in 0..65535, apart from --port" in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        r = baton(env, "serve", "heavy", "--port", str(free_port()), "--grpc-port", str(taken))
    assert r.returncode == 2
    assert "serving" not in r.stdout
    text = r.stderr.replace("\n", "")
    assert f"cannot listen for gRPC on 127.0.0.1:{taken} (Address already in use): pid " in text
    assert str(os.getpid()) in text
    assert "Traceback" not in r.stderr


def test_the_start_up_lines_name_the_grpc_address(
    served: Served,
) -> None:
    proc, _, target = served
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert f"gRPC (V2) at {target}" in out.decode()


def test_every_worker_listens_on_the_grpc_port(serve: Callable[..., Served]) -> None:
    from baton.serve.ports import LISTEN, Socket, holders, process_of

    proc, url, target = serve("heavy", "--workers", "2")
    port = int(target.rsplit(":", 1)[1])
    listening = wait_until(lambda: len(holders(port)) >= 2 and holders(port), "two listeners")
    assert len(listening) == 2  # one socket per worker (SO_REUSEPORT), not the parent's
    http_port = int(url.rsplit(":", 1)[1])  # the same for HTTP: the kernel spreads both

    def http_listeners() -> list[Socket]:
        return [s for s in holders(http_port) if s.state == LISTEN]

    http = wait_until(lambda: len(http_listeners()) >= 2 and http_listeners(), "HTTP listeners")
    assert len(http) == 2
    assert len({process_of(s.inode) for s in http}) == 2
    rows = np.zeros((1, 64), "<f4")
    for _ in range(12):  # a fresh connection each time: the kernel spreads them
        client = tgrpc.InferenceServerClient(target)
        tensor = tgrpc.InferInput("input", [1, 64], "FP32")
        tensor.set_data_from_numpy(rows)
        assert client.infer("heavy", [tensor]).as_numpy("probabilities").shape == (1, 10)
        client.close()
    text = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'baton_requests_total{code="200",model="heavy",version="1"} 12.0' in text
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0


# -- the gRPC wire (in-process server) ----------------------------------------------------


def _infer_request(rows: np.ndarray) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name="toy")
    request.inputs.add(name="input", datatype="FP32", shape=list(rows.shape))
    request.raw_input_contents.append(rows.astype("<f4").tobytes())
    return request


def _toy_grpc(live_server: Start, **options: object) -> str:
    live = live_server("toy", grpc_port=0, **options)
    assert live.app.grpc is not None
    return f"127.0.0.1:{live.app.grpc.port}"


@pytest.mark.parametrize("compression", [grpc.Compression.Gzip, grpc.Compression.Deflate])
def test_compressed_requests_are_read(
    toy_store: Store, live_server: Start, compression: grpc.Compression
) -> None:
    target = _toy_grpc(live_server)
    rows = np.zeros((50, 4))
    with grpc.insecure_channel(target, compression=compression) as channel:
        service = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        answer = service.ModelInfer(_infer_request(rows))
    assert list(answer.outputs[0].shape) == [50, 3]


def test_an_unknown_method_is_unimplemented_and_the_channel_carries_on(
    toy_store: Store, live_server: Start
) -> None:
    target = _toy_grpc(live_server)
    with grpc.insecure_channel(target) as channel:
        nothing = channel.unary_unary("/inference.GRPCInferenceService/Nothing")
        with pytest.raises(grpc.RpcError) as info:
            nothing(b"")
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "GRPCInferenceService" in (info.value.details() or "")
        service = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        assert service.ServerLive(service_pb2.ServerLiveRequest()).live


def test_a_request_that_is_not_grpc_gets_http_415(toy_store: Store, live_server: Start) -> None:
    from hpack import Decoder
    from tests.serve.test_h2 import REQUEST, Client

    from baton.serve import h2

    host, port = _toy_grpc(live_server).rsplit(":", 1)

    async def main() -> list[tuple[str, str]]:
        reader, writer = await asyncio.open_connection(host, int(port))
        client = Client(reader, writer)
        client.send(h2.PREFACE, h2.frame(h2.SETTINGS, 0, 0))
        block = client.encoder.encode([*REQUEST, ("content-type", "application/json")])
        client.send(h2.frame(h2.HEADERS, h2.END_HEADERS | h2.END_STREAM, 1, block))
        answer = (await client.until(h2.HEADERS, 1))[-1]
        writer.close()
        assert answer[1] & h2.END_STREAM
        return list(Decoder().decode(answer[3]))

    headers = dict(asyncio.run(main()))
    assert headers[":status"] == "415"
    assert "application/grpc" in headers["grpc-message"]


def test_connections_over_the_cap_are_turned_away(toy_store: Store, live_server: Start) -> None:
    target = _toy_grpc(live_server, max_connections=1)
    own = [("grpc.use_local_subchannel_pool", 1)]  # one connection each, not one shared
    first = grpc.insecure_channel(target, options=own)
    service = service_pb2_grpc.GRPCInferenceServiceStub(first)
    assert service.ServerLive(service_pb2.ServerLiveRequest()).live
    with grpc.insecure_channel(target, options=own) as second:
        other = service_pb2_grpc.GRPCInferenceServiceStub(second)
        with pytest.raises(grpc.RpcError) as info:
            other.ServerLive(service_pb2.ServerLiveRequest(), timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "1 connections at most" in (info.value.details() or "")
    assert service.ServerLive(service_pb2.ServerLiveRequest()).live  # the first one serves on
    first.close()


def test_a_large_answer_crosses_many_windows(toy_store: Store, live_server: Start) -> None:
    target = _toy_grpc(live_server)
    rows = np.random.default_rng(1).normal(size=(100_000, 4))  # 800 kB out, past any window
    with grpc.insecure_channel(target) as channel:
        service = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        answers = [service.ModelInfer.future(_infer_request(rows)) for _ in range(4)]
        outputs = [a.result(timeout=60) for a in answers]
    first = np.frombuffer(outputs[0].raw_output_contents[0], "<f4")
    assert first.size == 300_000
    assert all(o.raw_output_contents[0] == outputs[0].raw_output_contents[0] for o in outputs)
