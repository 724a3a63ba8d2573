"""A reader's shell, for the docs test: commands run one after another in one folder, and
what one exports (``export BATON_USER=ana``) or where it goes (``cd``) holds for the next.

Each command runs in a fresh ``bash`` that starts from the environment and folder the last
one left, so a page reads as a terminal session. Servers a page starts in the background
are stopped, with their whole process group, when the session closes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.docs.matching import matches

# Each command gets this long; the slowest shown (a full monitoring check) takes seconds.
COMMAND_TIMEOUT = 240.0
SERVER_START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Ran:
    output: str
    status: int


class Session:
    """One page's shell: a folder, an environment, and the servers it started."""

    def __init__(self, folder: Path, env: dict[str, str], ports: dict[int, int]) -> None:
        self.cwd = folder
        self.env = dict(env)
        self.ports = ports
        self._state = folder / ".docs-test-env"
        self._background: list[tuple[subprocess.Popen[bytes], Path]] = []

    def localize(self, text: str) -> str:
        """The page's port numbers replaced by the free ports this run uses."""
        for shown, free in self.ports.items():
            text = re.sub(rf"(?<!\d){shown}(?!\d)", str(free), text)
        return text

    def run(self, command: str) -> Ran:
        """Run one command as a reader would type it; its output and exit status."""
        script = self._script(command)
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        self._load_state()
        return Ran(done.stdout.decode("utf-8", "replace"), done.returncode)

    def start(self, command: str, shown: str) -> Ran:
        """Start a command that keeps running; return once its output shows what the docs
        show (or it ended, or the wait ran out: then the caller's match fails and says so)."""
        log = self.cwd / f".docs-test-background-{len(self._background)}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "--noprofile", "--norc", "-c", f"exec {command}"],
                cwd=self.cwd,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._background.append((process, log))
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            output = log.read_text(encoding="utf-8", errors="replace")
            if matches(shown + "\n...", output) or process.poll() is not None:
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        status = process.poll()
        output = log.read_text(encoding="utf-8", errors="replace")
        return Ran(output, -1 if status is None else status)

    def close(self, cleanup: tuple[str, ...] = ()) -> None:
        """Run the page's clean-up commands, then stop every server this session started
        (SIGTERM, then SIGKILL after 30 s)."""
        for command in cleanup:
            self.run(self.localize(command))
        for process, _log in self._background:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _log in self._background:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        self._background.clear()

    def _script(self, command: str) -> str:
        # the command's own status is kept; the environment and folder it leaves are saved
        return f'{command}\n__docs_status=$?\nenv -0 > "{self._state}"\nexit $__docs_status\n'

    def _load_state(self) -> None:
        if not self._state.exists():
            return
        pairs = self._state.read_bytes().decode("utf-8", "replace").split("\0")
        self._state.unlink()
        env = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        for internal in ("_", "SHLVL", "OLDPWD"):
            env.pop(internal, None)
        self.env = env
        self.cwd = Path(env.get("PWD", str(self.cwd)))
