"""Processes started for a deployment that its record does not name yet.

A deployment's process is started first and recorded after: the record needs the address
the process announces. A starter killed in between (``kill -9`` of the keeper, of
``baton deploy up`` or of a canary controller; an OOM kill) left a process nothing knew
of: it served, held its port and memory, and ``deploy down`` did not stop it. So each start
is written down at once, with who started it, in ``BATON_HOME/deployments/MODEL/unrecorded``
and crossed off when the starter is done (``Starting``). A starter that fails stops what it
started; what a dead starter left behind is stopped by the next ``sweep``: each look of the
keeper, ``deploy up`` and ``deploy down``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from baton.config import Settings
from baton.rollout import supervise

log = logging.getLogger(__name__)

Identity = tuple[int, int | None]  # a pid and its start time, as records hold them


@dataclass(frozen=True)
class Spawned:
    """One process written down: itself, what it is, and the process that started it."""

    pid: int
    started: int | None
    what: str
    starter_pid: int
    starter_started: int | None

    def describe(self) -> str:
        return f"{self.what} (pid {self.pid}, started by pid {self.starter_pid})"


def folder(settings: Settings, model: str) -> Path:
    return settings.home.resolve() / "deployments" / model / "unrecorded"


class Starting:
    """The processes one starter starts before it records them. On leaving the block they
    are crossed off; when it is left by an exception, those still running are stopped
    first (they drain), since no record will name them."""

    def __init__(self, settings: Settings, model: str, grace_s: float) -> None:
        self.folder, self.grace_s = folder(settings, model), grace_s
        self.spawned: list[tuple[Spawned, Path]] = []

    def add(self, pid: int, what: str) -> None:
        """Write down a process just spawned, before anything else can go wrong."""
        me = os.getpid()
        entry = Spawned(pid, supervise.start_ticks(pid), what, me, supervise.start_ticks(me))
        path = self.folder / f"{pid}-{entry.started}.json"
        self.spawned.append((entry, path))  # first: stopped on leaving if the write fails
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        try:
            partial.write_text(json.dumps(asdict(entry)), encoding="utf-8")
            os.replace(partial, path)  # a sweep never reads half an entry
        finally:
            partial.unlink(missing_ok=True)

    def __enter__(self) -> Starting:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if kind is not None:
                supervise.stop_all([(e.pid, e.started) for e, _ in self.spawned], self.grace_s)
        finally:
            for _, path in self.spawned:
                path.unlink(missing_ok=True)


def sweep(
    settings: Settings, model: str, recorded: Callable[[], Collection[Identity]], grace_s: float
) -> list[Spawned]:
    """Stop the model's processes whose starter died before it recorded them; the ones
    stopped. An entry of a living starter is its own business; one the record names (the
    starter died after recording) or whose process is gone is only crossed off.
    ``recorded``: the processes the record names, read only when a process may be a stray,
    and after its starter was found dead (which can record nothing any more)."""
    done: list[Path] = []
    suspects: list[Spawned] = []
    for path in sorted(folder(settings, model).glob("*.json")):
        entry = _read(path)
        if entry is not None and supervise.alive(entry.starter_pid, entry.starter_started):
            continue
        if entry is not None and supervise.alive(entry.pid, entry.started):
            suspects.append(entry)
        done.append(path)
    named = recorded() if suspects else ()
    strays = [entry for entry in suspects if (entry.pid, entry.started) not in named]
    supervise.stop_all([(e.pid, e.started) for e in strays], grace_s)
    for path in done:
        path.unlink(missing_ok=True)
    return strays


def _read(path: Path) -> Spawned | None:
    """An entry, or None for a file that is not one (it is crossed off, with a warning)."""
    try:
        return Spawned(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        log.warning("%s is not a record of a started process (%s): removed", path, exc)
        return None
