"""Fixtures for the server: registered models and a real server on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from tests.handover_factory import write_handover

from baton.config import Settings
from baton.handover.register import register_handover
from baton.serve.app import ServeApp
from baton.serve.options import ServeOptions
from baton.serve.server import uvicorn_config
from baton.store.store import Store, open_store

ADMIN_TOKEN = "a-test-admin-token-of-32-letters"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class LiveServer:
    url: str
    app: ServeApp
    server: uvicorn.Server
    thread: threading.Thread
    client: httpx.Client

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)


def free_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def start_server(settings: Settings, options: ServeOptions) -> LiveServer:
    """Run the real app under uvicorn in a thread; returns once it accepts connections."""
    sock = free_socket()
    port = sock.getsockname()[1]
    options = replace(options, port=port)
    app = ServeApp(settings, options, registry=CollectorRegistry(), tune_gc=False)
    server = uvicorn.Server(uvicorn_config(app, options, loop="asyncio"))  # the real limits
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    return LiveServer(url, app, server, thread, httpx.Client(base_url=url, timeout=30))


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Most server tests need one real database; SQLite keeps them quick."""
    return Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}", user="tester")


@pytest.fixture
def toy_store(sqlite_settings: Settings, tmp_path: Path) -> Iterator[Store]:
    """A store with model ``toy`` at versions 1 and 2 (different weights); @production -> 1."""
    store = open_store(sqlite_settings)
    for seed in (1, 2):
        register_handover(store, write_handover(tmp_path / f"toy{seed}", seed=seed), actor="tester")
    store.registry.set_alias("toy", "production", 1, actor="tester")
    yield store
    store.close()


Start = Callable[..., LiveServer]


@pytest.fixture
def live_server(sqlite_settings: Settings) -> Iterator[Start]:
    """Start servers with options; every one started is stopped afterwards."""
    started: list[LiveServer] = []

    def start(*refs: str, settings: Settings | None = None, **options: object) -> LiveServer:
        live = start_server(settings or sqlite_settings, ServeOptions(refs=refs, **options))  # type: ignore[arg-type]
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


def v2_input(data: list[float], rows: int = 1, name: str = "input") -> dict[str, object]:
    return {"name": name, "datatype": "FP32", "shape": [rows, len(data) // rows], "data": data}


def recommend_int8(store: Store, ref: str, folder: Path, **recommended: object) -> int:
    """Record an evaluation of ``ref`` that recommends its int8 copy, as ``baton evaluate``
    stores one (the copy quantised from the version's model, in the artifact store)."""
    from baton.core.evaluation import EvaluationReport
    from baton.core.refs import parse_ref
    from baton.core.serving_config import ServingConfig
    from baton.evaluate.profiler import quantize_int8
    from baton.store.tx import utcnow

    info = store.registry.resolve(parse_ref(ref))
    folder.mkdir(parents=True, exist_ok=True)
    int8 = folder / "int8.onnx"
    assert quantize_int8(store.artifacts.verified_path(info.sha256), int8) is None
    stored = store.artifacts.put_file(int8)
    settings: dict[str, object] = {"max_batch_size": 256, "intra_op_threads": 2}
    config = ServingConfig.model_validate(
        {**settings, **recommended, "precision": "int8", "model_sha256": stored.sha256}
    )
    record = store.evaluations.record(
        info.model,
        info.number,
        status="passed",
        report=EvaluationReport(),
        actor="tester",
        started_at=utcnow(),
        recommended=config,
    )
    return record.id


def damage(store: Store, sha256: str) -> Path:
    """Flip a byte of a stored artifact in place (what a bad disk or a stray edit does)."""
    path = store.artifacts.path_for(sha256)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path
