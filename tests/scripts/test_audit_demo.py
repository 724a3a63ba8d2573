"""``make audit-demo`` as a user runs it: any free port, nothing left in the temp folder."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from baton.errors import BatonError
from baton.monitor.promtool import locate

ROOT = Path(__file__).resolve().parents[2]


def _have_prometheus() -> bool:
    try:
        locate("prometheus")
        locate("promtool")
    except BatonError:
        return False
    return True


@pytest.mark.skipif(not _have_prometheus(), reason="Prometheus is not installed")
def test_demo_runs_beside_a_taken_port_and_leaves_no_temp_folder(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    html = tmp_path / "audit.html"
    with contextlib.ExitStack() as stack:
        _hold(stack, 9099)  # the port the demo used to insist on
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "audit_demo.py"), "--html", str(html)],
            env={**os.environ, "TMPDIR": str(temp)},
            capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert html.stat().st_size > 10_000
    assert list(temp.iterdir()) == []


def _hold(stack: contextlib.ExitStack, port: int) -> None:
    """Take ``port`` for the test's length; one already taken elsewhere is as good."""
    held = stack.enter_context(socket.socket())
    try:
        held.bind(("127.0.0.1", port))
    except OSError:
        return
    held.listen()
