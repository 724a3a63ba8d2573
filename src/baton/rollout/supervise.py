"""Background processes baton starts and stops: ``baton serve``, ``baton router`` and the
canary controller, each detached in its own session with its output in a log file.

Bind-then-announce: a server binds its port (``--port 0``: the kernel picks a free one),
loads, and only then prints one JSON line saying where it serves; ``announced`` waits for
that line in the log (or for the process to die, with the log's tail as the message). A
process is remembered by its pid and the kernel's start time of that pid (``/proc``), so
a pid reused after a crash is never signalled. ``stop`` sends SIGTERM (the servers drain
their requests in flight), waits, and kills only what outlives the grace period.
``keep_running`` is the canary controller's supervisor: it starts the controller again
when it dies before the rollout is over.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton.config import Settings
from baton.errors import Unavailable

MAX_BACKOFF_S = 30.0
ANNOUNCE_TIMEOUT_S = 120.0  # a server verifies and loads its model before it announces
POLL_S = 0.05
_TAIL = 1500


@dataclass(frozen=True)
class Started:
    """A process that announced itself: who it is, and what it said."""

    pid: int
    started: int | None  # /proc start time (clock ticks since boot)
    log: Path
    announce: dict[str, object]

    @property
    def url(self) -> str:
        return str(self.announce["url"])


@dataclass
class Backoff:
    """When a failed start may be tried again: after 1 s, then twice as long each time, up
    to ``MAX_BACKOFF_S``; a process found alive starts the count over. ``clock``: seconds
    (``time.monotonic``, or the caller's own clock)."""

    delay: float = 1.0
    until: float = 0.0  # on ``clock``
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def waiting(self) -> bool:
        return self.clock() < self.until

    def failed(self) -> float:
        """Note a failure; the seconds until the next try."""
        delay = self.delay
        self.until = self.clock() + delay
        self.delay = min(MAX_BACKOFF_S, delay * 2)
        return delay

    def reset(self) -> None:
        self.delay = 1.0


def baton_argv(*args: str) -> list[str]:
    """The ``baton`` command as this interpreter runs it (the same install, any venv)."""
    return [sys.executable, "-m", "baton.cli.main", *args]


def child_env(settings: Settings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the settings that locate the store made explicit,
    so a child opens the same store whatever built ``settings``."""
    env = dict(os.environ)
    env["BATON_HOME"] = str(settings.home.resolve())
    env["BATON_DB_URL"] = settings.database_url
    env["BATON_ARTIFACTS"] = str(settings.artifact_root.resolve())
    env["BATON_USER"] = settings.user
    env["BATON_PROMETHEUS_URL"] = settings.prometheus_url
    env.update(extra or {})
    return env


def log_path(settings: Settings, model: str, name: str) -> Path:
    """``BATON_HOME/logs/MODEL/NAME-YYYYmmddTHHMMSS-NNNNNNNNN.log``, new for every start."""
    folder = settings.home.resolve() / "logs" / model
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return folder / f"{name}-{stamp}-{time.time_ns() % 10**9:09d}.log"


def spawn(
    argv: list[str], log: Path, env: Mapping[str, str], pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    """Start ``argv`` detached (its own session: a Ctrl-C of the caller does not reach it),
    stdin closed, stdout and stderr appended to ``log``; ``pass_fds`` stay open in it (the
    router's listening socket)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=dict(env), start_new_session=True, close_fds=True, pass_fds=pass_fds,
        )  # fmt: skip


def announced(
    proc: subprocess.Popen[bytes], log: Path, what: str, timeout: float = ANNOUNCE_TIMEOUT_S
) -> Started:
    """Wait for the first JSON object line in ``log``; the process dying first is an error."""
    deadline = time.monotonic() + timeout
    ticks = start_ticks(proc.pid)
    while True:
        found = _first_json(log)
        if found is not None:
            return Started(proc.pid, ticks, log, found)
        if proc.poll() is not None:
            raise Unavailable(
                f"{what} exited with status {proc.returncode} before serving; its log "
                f"{log} ends: {tail(log)}"
            )
        if time.monotonic() > deadline:
            stop(proc.pid, ticks, grace_s=5.0)
            raise Unavailable(
                f"{what} did not serve within {timeout:g} s (stopped); its log {log} ends: "
                f"{tail(log)}"
            )
        time.sleep(POLL_S)


def _first_json(log: Path) -> dict[str, object] | None:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("{") and line.endswith("}")):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "url" in value:
            return value
    return None


def tail(log: Path) -> str:
    """The end of a log on one line (for an error message)."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return " ".join(text[-_TAIL:].split()) or "(empty)"


def _stat(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name (which may hold spaces and parentheses)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of ``/proc/PID/stat``);
    None where ``/proc`` cannot say (the pid is gone, or another OS)."""
    fields = _stat(pid)
    try:
        return None if fields is None else int(fields[19])
    except (IndexError, ValueError):
        return None


def alive(pid: int, started: int | None) -> bool:
    """Whether ``pid`` still runs and is the process we started (not a zombie, not a
    newer process that got the same pid)."""
    _reap(pid)
    fields = _stat(pid)
    if fields is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return started is None
        return started is None  # no /proc: the pid alone has to do
    if not fields or fields[0] in ("Z", "X"):
        return False
    return started is None or start_ticks(pid) == started


def _reap(pid: int) -> None:
    """Collect a child of ours that ended (else it lingers as a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, started: int | None, grace_s: float = 35.0) -> bool:
    """SIGTERM, wait up to ``grace_s`` for it to drain and exit, then SIGKILL. True when it
    exited by itself (or was already gone)."""
    if not alive(pid, started):
        return True
    _signal(pid, signal.SIGTERM)
    if wait_gone(pid, started, grace_s):
        return True
    _signal(pid, signal.SIGKILL)
    wait_gone(pid, started, 10.0)
    return False


def stop_all(processes: Sequence[tuple[int, int | None]], grace_s: float) -> None:
    """``stop`` for several (pid, start time) at once: SIGTERM them all first, so they drain
    side by side, then wait for each."""
    running = [(pid, started) for pid, started in processes if alive(pid, started)]
    for pid, _ in running:
        send_term(pid)
    for pid, started in running:
        stop(pid, started, grace_s=grace_s)


def wait_gone(pid: int, started: int | None, timeout: float) -> bool:
    """Wait for the process to end; False if it still runs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while alive(pid, started):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_S)
    return True


def send_term(pid: int) -> None:
    """SIGTERM without waiting (``stop`` waits): several processes drain side by side."""
    _signal(pid, signal.SIGTERM)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def keep_running(
    argv: list[str],
    env: Mapping[str, str],
    still_needed: Callable[[], bool],
    *,
    max_restarts: int = 20,
    backoff_s: float = 1.0,
) -> int:
    """Run ``argv`` (its output this process's) and start it again whenever it dies before
    its work is done (a crash, an OOM kill, a ``kill -9``), while ``still_needed()`` says
    so; its last exit status.

    SIGTERM or SIGINT to this process is passed on to the child, which is then not
    restarted: stopping the supervisor stops the work."""
    stopping: list[int] = []
    child: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: object) -> None:
        stopping.append(signum)
        if child and child[-1].poll() is None:
            child[-1].send_signal(signum)

    before = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _supervise(argv, env, still_needed, child, stopping, max_restarts, backoff_s)
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def _supervise(
    argv: list[str],
    env: Mapping[str, str],
    still_needed: Callable[[], bool],
    child: list[subprocess.Popen[bytes]],
    stopping: list[int],
    max_restarts: int,
    backoff_s: float,
) -> int:
    restarts = 0
    while True:
        child.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=dict(env),
                                      start_new_session=True))  # fmt: skip
        code = child[-1].wait()
        if code == 0 or stopping or not still_needed():
            return code
        restarts += 1
        if restarts > max_restarts:
            print(f"supervisor: gave up after {max_restarts} restarts", flush=True)
            return code
        print(f"supervisor: the process exited with {code}: restart {restarts}", flush=True)
        time.sleep(backoff_s)
