"""Fixtures for the router: real ``baton serve`` processes of the example model, and real
``baton router`` processes in front of them, all on free loopback ports."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from baton.config import Settings
from baton.handover.register import register_handover
from baton.rollout.router_app import Recorder, RouterApp
from baton.rollout.router_options import RouterOptions
from baton.rollout.router_server import uvicorn_config
from baton.store.store import Store, open_store
from tests.baton_cli import clean_env, serving

TOKEN = "a-router-admin-token-of-32-chars"
ROW = [0.5] * 64  # one row of the digits model's input


@dataclass(frozen=True)
class Fleet:
    """The example model registered in a store, and two servers of it (A and B)."""

    home: Path
    env: dict[str, str]
    model: str
    a: str  # URL of server A
    b: str  # URL of server B


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory, digits_source: Path) -> Iterator[Fleet]:
    home = tmp_path_factory.mktemp("rollout") / "home"
    store = open_store(Settings(home=home, user="tester"))
    try:
        model = register_handover(store, digits_source, actor="tester").version.model
    finally:
        store.close()
    env = clean_env(home, BATON_USER="tester")
    with ExitStack() as stack:
        args = (model, "--threads", "1", "--poll-interval", "0")
        a = stack.enter_context(serving(env, *args))
        b = stack.enter_context(serving(env, *args))
        yield Fleet(home, env, model, a, b)


@dataclass
class Router:
    """A running ``baton router`` process and what it announced."""

    proc: subprocess.Popen[str]
    url: str
    announced: dict[str, object]
    model: str
    log: Path  # its stderr
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def infer(self, headers: dict[str, str] | None = None) -> httpx.Response:
        body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 64], "data": ROW}]}
        return self.client.post(f"/v2/models/{self.model}/infer", json=body, headers=headers)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of the router's /metrics (0 when it is not there)."""
        text = self.client.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        return 0.0

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


StartRouter = Callable[..., Router]


def start_router(fleet: Fleet, *args: str, log: Path, env: dict[str, str] | None = None) -> Router:
    """``baton router MODEL ARGS --port 0 --json``; returns once it announced itself (what
    it writes to stderr goes to ``log``: a pipe nobody reads could fill and stall it)."""
    cmd = [sys.executable, "-m", "baton.cli.main", "router", fleet.model, *args]
    with log.open("w") as err:
        proc = subprocess.Popen(
            [*cmd, "--port", "0", "--json"],
            env=env or fleet.env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while True:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line:
                announced = json.loads(line)
                return Router(proc, str(announced["url"]), announced, fleet.model, log)
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"baton router did not start: {log.read_text()[-2000:]}")


@pytest.fixture
def router(fleet: Fleet, tmp_path: Path) -> Iterator[StartRouter]:
    """Start routers (with ``token=True``: weight changes allowed); all stopped afterwards."""
    started: list[Router] = []

    def start(*args: str, token: bool = True, env: dict[str, str] | None = None) -> Router:
        if token:
            path = tmp_path / "token"
            path.write_text(TOKEN + "\n")
            args = (*args, "--admin-token-file", str(path))
        log = tmp_path / f"router-{len(started)}.log"
        started.append(start_router(fleet, *args, log=log, env=env))
        return started[-1]

    yield start
    for r in started:
        r.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store under the test's folder (BATON_HOME ``tmp_path/home``)."""
    s = open_store(Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}",
                            user="t"))  # fmt: skip
    yield s
    s.close()


def dead_url() -> str:
    """A loopback address nothing listens on (a server that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@dataclass
class InProcess:
    """A router app run by uvicorn in a thread of the test (for the admin client's tests)."""

    url: str
    app: RouterApp
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def router_in_thread() -> Iterator[Callable[..., InProcess]]:
    started: list[InProcess] = []

    def start(options: RouterOptions, recorder: Recorder | None = None) -> InProcess:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        app = RouterApp(options, recorder=recorder, tune_gc=False)
        server = uvicorn.Server(uvicorn_config(app, loop="asyncio"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the router did not start"
            time.sleep(0.01)
        started.append(InProcess(f"http://127.0.0.1:{sock.getsockname()[1]}", app, server, thread))
        return started[-1]

    yield start
    for r in started:
        r.stop()
