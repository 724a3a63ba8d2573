"""The deployment's keeper as a process: started by ``baton deploy up``, found and stopped by
``deploy down`` and ``deploy status`` through ``BATON_HOME/deployments/MODEL/keeper.json``.

The keeper (``rollout/keeper.py``) is a long-lived process beside the router: it holds a
copy of the router's listening socket, starts the router again on it when it dies, and
adopts a canary nobody runs any more. A keeper that died is started again by ``deploy up``
(without a copy of the socket, which only the living router holds then). Its pid and
start time live in a file rather than in the deployment record: the record says what
serves, the file says who watches it.
"""

from __future__ import annotations

import json
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from baton.config import Settings
from baton.rollout import supervise
from baton.rollout.router_server import SOCKET_FD_ENV

STOP_GRACE_S = 60.0  # idle, it exits at once; starting a router, it records it first


@dataclass(frozen=True)
class KeeperProcess:
    pid: int
    started: int | None
    deployment: int
    log: str

    def running(self) -> bool:
        return supervise.alive(self.pid, self.started)


def keeper_file(settings: Settings, model: str) -> Path:
    return settings.home.resolve() / "deployments" / model / "keeper.json"


def listening_socket(host: str, prefer: int = 0) -> socket.socket:
    """A listening TCP socket, to be shared by the router and the keeper (so the address
    outlives any one router process): on port ``prefer`` when it is free (a deployment
    brought back after a reboot keeps its address), else on a port the kernel picks."""
    if prefer:
        try:
            return _listening(host, prefer)
        except OSError:
            pass  # taken meanwhile: any free port serves, and the record says which
    return _listening(host, 0)


def _listening(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # uvicorn's backlog: connections wait here while no router runs
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def start_keeper(
    settings: Settings,
    model: str,
    deployment: int,
    sock: socket.socket | None,
    drain_timeout_s: float,
) -> KeeperProcess:
    """``python -m baton.rollout.keeper`` detached, holding ``sock``; returns once it
    watches the deployment, after writing where to find it. Without ``sock`` (a keeper
    started again beside a router that runs, whose socket nobody else holds) it binds the
    router's port itself when the router dies."""
    log = supervise.log_path(settings, model, "keeper")
    argv = [sys.executable, "-m", "baton.rollout.keeper", model, "--deployment",
            str(deployment), "--drain-timeout", f"{drain_timeout_s:g}"]  # fmt: skip
    env = supervise.child_env(settings)
    env.pop(SOCKET_FD_ENV, None)  # one this process was handed is not the keeper's
    fds: tuple[int, ...] = ()
    if sock is not None:
        env[SOCKET_FD_ENV], fds = str(sock.fileno()), (sock.fileno(),)
    proc = supervise.spawn(argv, log, env, pass_fds=fds)
    started = supervise.announced(proc, log, f"the keeper of {model}")
    keeper = KeeperProcess(started.pid, started.started, deployment, str(log))
    path = keeper_file(settings, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keeper.__dict__) + "\n", encoding="utf-8")
    return keeper


def find_keeper(settings: Settings, model: str) -> KeeperProcess | None:
    """The keeper ``deploy up`` started for the model (running or not), or None."""
    try:
        value = json.loads(keeper_file(settings, model).read_text(encoding="utf-8"))
        return KeeperProcess(int(value["pid"]), value.get("started"), int(value["deployment"]),
                             str(value.get("log", "")))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def keeper_runs(settings: Settings, model: str) -> bool:
    """Whether the model's keeper runs here (it starts a dead router or stable server again)."""
    keeper = find_keeper(settings, model)
    return keeper is not None and keeper.running()


def stop_keeper(settings: Settings, model: str) -> None:
    """Stop the model's keeper (first, so it does not start again what is being stopped)."""
    keeper = find_keeper(settings, model)
    if keeper is not None:
        supervise.stop(keeper.pid, keeper.started, grace_s=STOP_GRACE_S)
    keeper_file(settings, model).unlink(missing_ok=True)
