"""The sweep after a test: every process started with a ``BATON_HOME`` under the test's
folder goes, including one that restarts another; nothing outside the folder is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.strays import kill_strays, under
from tests.waiting import wait_until

# A parent that starts its child again whenever it dies, as the keeper does the router.
RESTARTER = """
import subprocess, sys, time
while True:
    subprocess.run([sys.executable, "-c", "import time; time.sleep(600)"])
"""


def _started(home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BATON_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-c", RESTARTER], env=env)


def test_the_sweep_kills_a_family_that_restarts_itself(tmp_path: Path) -> None:
    mine = _started(tmp_path / "home")
    other = _started(tmp_path.parent / f"{tmp_path.name}-other" / "home")
    try:
        wait_until(lambda: len(under(tmp_path)) == 2, "the parent and its child")
        killed = kill_strays(tmp_path)
        assert mine.pid in killed and len(set(killed)) >= 2
        assert mine.wait(timeout=10) == -9
        assert under(tmp_path) == []
        assert other.poll() is None  # another folder's: left alone
    finally:
        kill_strays(tmp_path.parent / f"{tmp_path.name}-other")
        other.wait(timeout=10)
