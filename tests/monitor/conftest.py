"""Real monitoring parts: promtool, amtool, Prometheus, Alertmanager and node_exporter.

Each binary is found the way baton finds it (``baton.monitor.promtool.locate``). A missing
one skips the test with the package to install, except under CI, where
``scripts/test-services.sh`` installs them and a skip would hide a broken setup.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from baton.errors import Unavailable
from baton.monitor.promtool import locate
from tests.baton_cli import free_port

START_TIMEOUT_S = 30.0


def need(tool: str) -> Path:
    """The tool's path, or skip (fail under CI) naming the Debian package."""
    try:
        return locate(tool)
    except Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(exc.message)
        pytest.skip(exc.message)


@dataclass
class Running:
    """A started binary: where it listens, and how to stop it (tests may stop it early)."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start(name: str, argv: list[str], port: int, ready_path: str, workdir: Path) -> Running:
    """Start a binary on a loopback port and wait until ``ready_path`` answers 200."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    running = Running(name, proc, port, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(running.url + ready_path, timeout=1.0).status_code == 200:
                return running
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    running.stop()
    pytest.fail(f"{name} did not become ready on {running.url}: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def promtool_bin() -> Path:
    return need("promtool")


@pytest.fixture(scope="session")
def amtool_bin() -> Path:
    return need("amtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> Path:
    return need("prometheus")


@pytest.fixture(scope="session")
def alertmanager_bin() -> Path:
    return need("alertmanager")


@pytest.fixture(scope="session")
def node_exporter_bin() -> Path:
    return need("node_exporter")


@pytest.fixture
def node_exporter(node_exporter_bin: Path, tmp_path: Path) -> Iterator[Running]:
    """The real node_exporter on a free loopback port."""
    port = free_port()
    running = start(
        "node_exporter",
        [str(node_exporter_bin), f"--web.listen-address=127.0.0.1:{port}"],
        port,
        "/metrics",
        tmp_path,
    )
    yield running
    running.stop()


StartPrometheus = Callable[[dict[str, object], list[Path]], Running]


@pytest.fixture
def prometheus(prometheus_bin: Path, tmp_path: Path) -> Iterator[StartPrometheus]:
    """Start the real Prometheus with a config (``rule_files`` filled in) and rule files.

    Storage goes to a temporary folder; every started server is stopped afterwards.
    """
    started: list[Running] = []

    def _start(config: dict[str, object], rule_files: list[Path]) -> Running:
        workdir = tmp_path / f"prometheus-{len(started)}"
        workdir.mkdir()
        config_file = workdir / "prometheus.yml"
        config_file.write_text(
            yaml.safe_dump({**config, "rule_files": [str(f) for f in rule_files]}),
            encoding="utf-8",
        )
        port = free_port()
        running = start(
            "prometheus",
            [
                str(prometheus_bin),
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            port,
            "/-/ready",
            workdir,
        )
        started.append(running)
        return running

    yield _start
    for running in started:
        running.stop()


StartAlertmanager = Callable[[dict[str, object]], Running]


@pytest.fixture
def alertmanager(alertmanager_bin: Path, tmp_path: Path) -> Iterator[StartAlertmanager]:
    """Start the real Alertmanager with a config; clustering off, storage in a temp folder."""
    started: list[Running] = []

    def _start(config: dict[str, object]) -> Running:
        workdir = tmp_path / f"alertmanager-{len(started)}"
        workdir.mkdir()
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        port = free_port()
        running = start(
            "alertmanager",
            [
                str(alertmanager_bin),
                f"--config.file={config_file}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            port,
            "/-/ready",
            workdir,
        )
        started.append(running)
        return running

    yield _start
    for running in started:
        running.stop()


@dataclass
class Webhook:
    """A receiver that records every Alertmanager notification it gets."""

    url: str
    received: list[dict[str, Any]]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A small HTTP server on a free loopback port standing in for a team's pager."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Webhook(f"http://127.0.0.1:{server.server_address[1]}/hook", received)
    server.shutdown()
    server.server_close()
