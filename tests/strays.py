"""Processes a failed test left behind, found by their ``BATON_HOME``.

A deployment is a family that restarts itself: the keeper starts the router again, the
supervisor the controller, and the keeper adopts a canary. A test that fails before
``baton deploy down`` would leave that family running for good, loading the machine under
every later test and benchmark. Killing its members one by one loses to the restarts, so
this sweeps every process whose ``BATON_HOME`` lies under the test's folder until none is
left.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

SWEEPS = 5


def under(folder: Path) -> list[int]:
    """Pids of this user's processes started with a ``BATON_HOME`` inside ``folder``."""
    root, found = folder.resolve(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or another user's
            continue
        home = next(
            (v[len(b"BATON_HOME=") :] for v in environ if v.startswith(b"BATON_HOME=")), None
        )
        if home and Path(os.fsdecode(home)).resolve().is_relative_to(root):
            found.append(int(entry.name))
    return found


def kill_strays(folder: Path) -> list[int]:
    """SIGKILL every process under ``folder`` (see ``under``), sweeping again while the
    family restarts its members; the pids killed."""
    killed: list[int] = []
    for _ in range(SWEEPS):
        pids = under(folder)
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        killed.extend(pids)
    return killed
