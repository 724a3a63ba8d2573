"""The reader's shell: exports and ``cd`` carry over, statuses are kept, servers stop."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.docs.session import Session
from tests.waiting import wait_until


def _session(tmp_path: Path, ports: dict[int, int] | None = None) -> Session:
    return Session(tmp_path, {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, ports or {})


def test_what_one_command_exports_or_where_it_goes_holds_for_the_next(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    session = _session(tmp_path)
    assert session.run("export WHO=ana && cd sub").status == 0
    ran = session.run('echo "$WHO in $(basename "$PWD")"')
    assert ran.output == "ana in sub\n"
    assert session.cwd == tmp_path / "sub"


def test_a_command_keeps_its_exit_status_and_its_error_output(tmp_path: Path) -> None:
    ran = _session(tmp_path).run("echo to stdout; echo to stderr >&2; exit 3")
    assert ran.status == 3
    assert ran.output == "to stdout\nto stderr\n"


def test_page_ports_are_replaced_by_the_free_ones_and_only_whole_numbers(tmp_path: Path) -> None:
    session = _session(tmp_path, {8000: 41234})
    assert session.localize("--port 8000 localhost:8000/x 18000 80001") == (
        "--port 41234 localhost:41234/x 18000 80001"
    )


def test_a_background_server_is_waited_for_and_stopped_with_its_children(tmp_path: Path) -> None:
    session = _session(tmp_path)
    script = tmp_path / "server.py"
    script.write_text(
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "print('child', child.pid, flush=True)\n"
        "print('serving', flush=True)\n"
        "time.sleep(600)\n"
    )
    ran = session.start(f"{sys.executable} {script}", "child ...\nserving")
    assert ran.status == -1  # still running
    child = int(ran.output.split()[1])
    session.close()
    wait_until(lambda: not _alive(child), "the server's child to stop with it")


def test_cleanup_commands_run_when_the_session_closes(tmp_path: Path) -> None:
    session = _session(tmp_path)
    session.close(("touch cleaned",))
    assert (tmp_path / "cleaned").exists()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose: its parent was stopped and nobody reaps it here
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text()
