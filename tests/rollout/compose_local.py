"""A stand-in for ``docker compose`` where there is no Docker: a rendered Compose file's baton
services run as local processes, each its ``command`` with its ``environment``.

What a container would give is moved to this machine, and nothing else is changed: each
service gets a free loopback port for its published or exposed one (8080), the service
names the router dials (``http://canary:8080``) become those ports, ``/mnt/models`` is the
service's model folder, ``/tmp/baton`` (the container's tmpfs) a folder of its own,
``/run/secrets/NAME`` the secret's file and a named volume a folder that outlives the
service's processes. ``up --wait`` waits on the service's own rendered healthcheck (its
command run with the port moved). The ports and pids are kept in a JSON
state file, so a canary's apply hook can run this module as a command:

    python -m tests.rollout.compose_local STATE up baseline canary
    python -m tests.rollout.compose_local STATE stop canary baseline
"""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

PORT = 8080  # what every rendered baton container listens on
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 40.0  # the rendered stop_grace_period


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _services(file: str, mtime_ns: int) -> dict[str, dict[str, Any]]:
    """The Compose file's services (asked for once per value replaced: parsed once)."""
    found: dict[str, dict[str, Any]] = yaml.safe_load(Path(file).read_text())["services"]
    return found


@dataclass
class LocalCompose:
    file: str  # the rendered compose.yaml
    folder: str  # logs, homes, the state file
    models: dict[str, str]  # service -> its local model folder (for /mnt/models)
    secrets: dict[str, str]  # secret name -> local file
    ports: dict[str, int] = field(default_factory=dict)  # service -> local port
    pids: dict[str, int] = field(default_factory=dict)  # service -> pid while up

    @classmethod
    def plan(
        cls, file: Path, folder: Path, models: dict[str, Path], secrets: dict[str, Path]
    ) -> LocalCompose:
        """A port for every service now, so each address is known before anything starts."""
        folder.mkdir(parents=True, exist_ok=True)
        compose = cls(str(file), str(folder), {k: str(v) for k, v in models.items()},
                      {k: str(v) for k, v in secrets.items()})  # fmt: skip
        compose.ports = {name: free_port() for name in compose.baton_services()}
        compose.save()
        return compose

    @property
    def state(self) -> Path:
        return Path(self.folder) / "state.json"

    def save(self) -> None:
        self.state.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state: Path) -> LocalCompose:
        return cls(**json.loads(state.read_text()))

    def services(self) -> dict[str, dict[str, Any]]:
        file = Path(self.file)
        return _services(str(file), file.stat().st_mtime_ns)  # read once per version of it

    def baton_services(self) -> list[str]:
        """The services that run baton (Prometheus and Alertmanager images are not here)."""
        return [n for n, s in self.services().items() if s["command"][0] in ("serve", "router")]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    # -- what the container would give, moved here ---------------------------------------

    def _local(self, name: str, value: str) -> str:
        for other, port in self.ports.items():
            value = value.replace(f"http://{other}:{PORT}", f"http://127.0.0.1:{port}")
        for secret, path in self.secrets.items():
            value = value.replace(f"/run/secrets/{secret}", path)
        if name in self.models:
            value = value.replace("/mnt/models", self.models[name])
        for volume, mounted in self.named_volumes(name).items():
            value = value.replace(mounted, str(Path(self.folder) / "volumes" / volume))
        return value.replace("/tmp/baton", str(Path(self.folder) / f"{name}-home"))

    def named_volumes(self, name: str) -> dict[str, str]:
        """The service's named volumes (``NAME:/path``), by name: each a folder here that
        outlives the service's processes, as a volume outlives its containers."""
        found = {}
        for entry in self.services()[name].get("volumes", []):
            if isinstance(entry, str) and not entry.startswith((".", "/")):
                volume, mounted = entry.split(":")[:2]
                found[volume] = mounted
        return found

    def argv(self, name: str) -> list[str]:
        command: list[str] = self.services()[name]["command"]
        args = [self._local(name, a) for a in command]
        for i, a in enumerate(args[:-1]):
            if a == "--host":
                args[i + 1] = "127.0.0.1"
            if a == "--port":
                assert args[i + 1] == str(PORT), f"{name} listens on {args[i + 1]}, not {PORT}"
                args[i + 1] = str(self.ports[name])
        return [sys.executable, "-m", "baton.cli.main", *args]

    def env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        given: dict[str, str] = self.services()[name].get("environment", {})
        env.update({k: self._local(name, str(v)) for k, v in given.items()})
        return env

    def healthcheck(self, name: str) -> list[str]:
        test: list[str] = self.services()[name]["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "python"
        probe = [a.replace(f"127.0.0.1:{PORT}/", f"127.0.0.1:{self.ports[name]}/") for a in test]
        return [sys.executable, *probe[2:]]

    # -- docker compose up / stop ---------------------------------------------------------

    def up(self, *names: str, wait: bool = False) -> None:
        """Start each service not running (as ``up -d``); ``wait``: until each is healthy."""
        for name in names:
            if name in self.pids and alive(self.pids[name]):
                continue
            home = Path(self._local(name, "/tmp/baton"))
            home.mkdir(parents=True, exist_ok=True)
            for volume in self.named_volumes(name):
                (Path(self.folder) / "volumes" / volume).mkdir(parents=True, exist_ok=True)
            log = (Path(self.folder) / f"{name}.log").open("ab")
            proc = subprocess.Popen(self.argv(name), env=self.env(name), stdout=log, stderr=log,
                                    stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            self.pids[name] = proc.pid
            self.save()
        if wait:
            for name in names:
                self.wait_healthy(name)

    def wait_healthy(self, name: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while subprocess.run(self.healthcheck(name), capture_output=True, check=False).returncode:
            if not alive(self.pids[name]):
                raise AssertionError(f"{name} exited: {self.log(name)[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not healthy in {START_TIMEOUT_S:g} s")
            time.sleep(0.3)

    def stop(self, *names: str) -> None:
        """SIGTERM (each drains), SIGKILL after the grace period, as ``docker compose stop``."""
        for name in names:
            pid = self.pids.get(name)
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGTERM)
        for name in names:
            pid = self.pids.pop(name, None)
            deadline = time.monotonic() + STOP_GRACE_S
            while pid is not None and alive(pid):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)
        self.save()

    def running(self) -> set[str]:
        return {n for n, pid in self.pids.items() if alive(pid)}

    def log(self, name: str) -> str:
        path = Path(self.folder) / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def alive(pid: int) -> bool:
    """Running (a zombie child is reaped and counts as gone)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by a hook): /proc says
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def main(argv: list[str]) -> int:
    state, action, *names = argv
    compose = LocalCompose.load(Path(state))
    if action == "up":
        compose.up(*names)
    elif action == "stop":
        compose.stop(*names)
    else:
        print(f"unknown action {action!r}: up or stop", file=sys.stderr)
        return 2
    print(f"{action}: {' '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
