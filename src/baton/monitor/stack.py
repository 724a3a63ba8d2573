"""``baton monitor up | down``: a local Prometheus and Alertmanager running the bundle.

Both run detached from the shell that started them, with their pid, URL and log recorded
under ``BATON_HOME/monitor/run`` so ``down`` (or a later ``up``) finds them again.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from baton.errors import Conflict, Unavailable
from baton.monitor.addresses import ALERTMANAGER_PORT, PROMETHEUS_PORT
from baton.monitor.bundle import ALERTMANAGER_FILE, PROMETHEUS_FILE
from baton.monitor.promtool import locate

READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Service:
    name: str
    pid: int
    url: str
    log: str


def _run_dir(home: Path) -> Path:
    return home / "monitor" / "run"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(home: Path) -> list[Service]:
    """Services started by ``up`` that are still alive."""
    out = []
    for record in sorted(_run_dir(home).glob("*.json")):
        service = Service(**json.loads(record.read_text()))
        if _alive(service.pid):
            out.append(service)
        else:
            record.unlink(missing_ok=True)
    return out


def discover(home: Path, name: str) -> str | None:
    """The URL of ``name`` (prometheus, alertmanager) as ``up`` started it, if it still runs.

    The one way commands find the local stack (``monitor drill``, ``audit``), so a stack
    started on other ports is found as it is."""
    return next((s.url for s in running(home) if s.name == name), None)


def _wait_ready(service: Service, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{service.url}/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
    tail = Path(service.log).read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise Unavailable(
        f"{service.name} did not start on {service.url}: {tail[0]} (log: {service.log})"
    )


def _start(home: Path, name: str, argv: list[str], port: int) -> Service:
    run = _run_dir(home)
    run.mkdir(parents=True, exist_ok=True)
    log = run / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    service = Service(name, proc.pid, f"http://127.0.0.1:{port}", str(log))
    _wait_ready(service, proc)
    (run / f"{name}.json").write_text(json.dumps(service.__dict__))
    return service


def up(
    home: Path,
    bundle: Path,
    prometheus_port: int = PROMETHEUS_PORT,
    alertmanager_port: int = ALERTMANAGER_PORT,
) -> list[Service]:
    """Start Alertmanager then Prometheus on 127.0.0.1 with the bundle's configurations."""
    already = running(home)
    if already:
        urls = ", ".join(f"{s.name} {s.url}" for s in already)
        raise Conflict(
            f"the monitoring stack is already running ({urls}): `baton monitor down` first"
        )
    data = home / "monitor" / "data"
    alertmanager = _start(home, "alertmanager", [
        str(locate("alertmanager")),
        f"--config.file={bundle / ALERTMANAGER_FILE}",
        f"--storage.path={data / 'alertmanager'}",
        f"--web.listen-address=127.0.0.1:{alertmanager_port}",
        "--cluster.listen-address=",
    ], alertmanager_port)  # fmt: skip
    try:
        prometheus = _start(home, "prometheus", [
            str(locate("prometheus")),
            f"--config.file={bundle / PROMETHEUS_FILE}",
            f"--storage.tsdb.path={data / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
            "--web.enable-lifecycle",
        ], prometheus_port)  # fmt: skip
    except BaseException:
        down(home)
        raise
    return [prometheus, alertmanager]


def down(home: Path) -> list[Service]:
    """Stop what ``up`` started (SIGTERM, then SIGKILL after 10 s)."""
    stopped = []
    for service in running(home):
        os.kill(service.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _alive(service.pid) and time.monotonic() < deadline:
            _reap(service.pid)
            time.sleep(0.1)
        if _alive(service.pid):
            os.kill(service.pid, signal.SIGKILL)
        (_run_dir(home) / f"{service.name}.json").unlink(missing_ok=True)
        stopped.append(service)
    return stopped


def _reap(pid: int) -> None:
    """Collect a child we started in this process, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def bundle_folder(home: Path) -> Path:
    """Where ``monitor up`` writes the bundle the local stack runs."""
    return home / "monitor" / "bundle"


def reload_prometheus(home: Path) -> Service | None:
    """Make the local Prometheus re-read its bundle (it runs with ``--web.enable-lifecycle``);
    None when it is not running."""
    service = next((s for s in running(home) if s.name == "prometheus"), None)
    if service is None:
        return None
    try:
        answer = httpx.post(f"{service.url}/-/reload", timeout=10.0)
    except httpx.TransportError as exc:
        raise Unavailable(f"could not reach Prometheus at {service.url} to reload: {exc}") from None
    if answer.status_code != 200:
        raise Unavailable(
            f"Prometheus at {service.url} refused the new configuration: {answer.text.strip()} "
            f"(log: {service.log})"
        )
    return service
