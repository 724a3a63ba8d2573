"""The folder through which a server's decider and its workers talk.

``decision.json`` (written by the decider only, replaced atomically), one
``report-PID.json`` per worker saying which decision it has applied and what it serves,
and ``ask-*.json`` files a worker drops to ask for a load or unload. Files, because
workers are spawned processes sharing nothing else, and a stat is all a worker pays to
see whether the decision moved.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson

from baton.serve.decision import Decision
from baton.store.servers import ServedModel

DECISION = "decision.json"


@dataclass(frozen=True)
class Report:
    """What one worker serves after applying decision ``generation``."""

    pid: int
    generation: int
    models: tuple[ServedModel, ...]


@dataclass(frozen=True)
class Ask:
    id: str
    action: str  # "load" | "unload"
    name: str


def _write(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    part.write_bytes(data)
    os.replace(part, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Board:
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._decision = self.folder / DECISION

    # -- the decider's side ----------------------------------------------------------------

    def publish(self, decision: Decision) -> None:
        _write(self._decision, decision.to_bytes())

    def take_asks(self) -> list[Ask]:
        """Requests waiting, oldest first; each is taken once."""
        asks = []
        for path in sorted(self.folder.glob("ask-*.json"), key=lambda p: p.stat().st_mtime_ns):
            with contextlib.suppress(OSError, ValueError, KeyError):
                value = orjson.loads(path.read_bytes())
                path.unlink()
                asks.append(Ask(value["id"], value["action"], value["name"]))
        return asks

    def reports(self) -> list[Report]:
        """The reports of live workers (those of workers gone are removed)."""
        found = []
        for path in self.folder.glob("report-*.json"):
            try:
                value = orjson.loads(path.read_bytes())
            except (OSError, ValueError):
                continue
            if not _alive(int(value["pid"])):
                path.unlink(missing_ok=True)
                continue
            models = tuple(ServedModel.from_json(m) for m in value["models"])
            found.append(Report(int(value["pid"]), int(value["generation"]), models))
        return found

    # -- a worker's side ---------------------------------------------------------------------

    def stamp(self) -> tuple[int, int] | None:
        """Changes whenever a new decision is published (None: none yet)."""
        try:
            st = os.stat(self._decision)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def read(self) -> Decision | None:
        try:
            return Decision.from_bytes(self._decision.read_bytes())
        except FileNotFoundError:
            return None

    def report(self, generation: int, models: list[ServedModel], pid: int | None = None) -> None:
        pid = pid or os.getpid()
        value = {"pid": pid, "generation": generation, "models": [m.as_json() for m in models]}
        _write(self.folder / f"report-{pid}.json", orjson.dumps(value))

    def ask(self, action: str, name: str) -> str:
        key = uuid.uuid4().hex
        value = {"id": key, "action": action, "name": name}
        _write(self.folder / f"ask-{key}.json", orjson.dumps(value))
        return key
