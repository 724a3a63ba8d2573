"""Background processes: spawned detached with their output in a log, waited for until
they announce themselves, told apart from a later process that reuses the pid, stopped
with SIGTERM and killed only when they ignore it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from baton.config import Settings
from baton.errors import Unavailable
from baton.rollout import supervise
from baton.rollout.supervise import MAX_BACKOFF_S, Backoff

ANNOUNCE = (
    "import json, sys, time, signal\n"
    "print('warming up', flush=True)\n"
    "print(json.dumps({'url': 'http://127.0.0.1:1234', 'pid': 1}), flush=True)\n"
    "time.sleep(120)\n"
)
STUBBORN = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + ANNOUNCE


def start(tmp_path: Path, code: str) -> supervise.Started:
    log = tmp_path / "p.log"
    proc = supervise.spawn([sys.executable, "-c", code], log, dict(os.environ))
    return supervise.announced(proc, log, "the test process", timeout=60)


def test_announce_alive_and_stop(tmp_path: Path) -> None:
    started = start(tmp_path, ANNOUNCE)
    assert started.url == "http://127.0.0.1:1234" and started.started is not None
    assert supervise.alive(started.pid, started.started)
    assert not supervise.alive(started.pid, started.started + 1)  # another process's pid
    assert supervise.stop(started.pid, started.started, grace_s=20)
    assert not supervise.alive(started.pid, started.started)
    assert supervise.stop(started.pid, started.started)  # gone: nothing to do
    assert "warming up" in (tmp_path / "p.log").read_text()


def test_a_process_ignoring_sigterm_is_killed(tmp_path: Path) -> None:
    started = start(tmp_path, STUBBORN)
    assert not supervise.stop(started.pid, started.started, grace_s=0.5)
    assert not supervise.alive(started.pid, started.started)


def test_stop_all_signals_every_process_before_waiting_for_any(tmp_path: Path) -> None:
    """They drain side by side: each, told to stop, waits to see the other told too. Were
    they stopped one after the other, the first would wait in vain."""
    code = (
        "import os, signal, sys, time\n"
        "me, other = sys.argv[1], sys.argv[2]\n"
        "def drain(*_):\n"
        "    open(me, 'w').close()\n"
        "    deadline = time.monotonic() + 10\n"
        "    while not os.path.exists(other) and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "    if os.path.exists(other): open(me + '.saw', 'w').close()\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, drain)\n"
        'print(\'{"url": "http://127.0.0.1:1"}\', flush=True)\n'
        "time.sleep(120)\n"
    )
    a, b = tmp_path / "a", tmp_path / "b"
    started = []
    for me, other in ((a, b), (b, a)):
        log = tmp_path / f"{me.name}.log"
        proc = supervise.spawn([sys.executable, "-c", code, str(me), str(other)], log, {})
        started.append(supervise.announced(proc, log, me.name, timeout=60))
    supervise.stop_all([(s.pid, s.started) for s in started], grace_s=30)
    assert not any(supervise.alive(s.pid, s.started) for s in started)
    assert (tmp_path / "a.saw").exists() and (tmp_path / "b.saw").exists()


def test_a_process_dying_before_it_announces(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    proc = supervise.spawn([sys.executable, "-c", "raise SystemExit('no port for me')"], log,
                           dict(os.environ))  # fmt: skip
    with pytest.raises(Unavailable, match=r"the test process exited with status 1 before "
                       r"serving; its log .* ends: no port for me"):  # fmt: skip
        supervise.announced(proc, log, "the test process", timeout=60)


def test_silence_is_a_timeout_and_the_process_is_stopped(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    proc = supervise.spawn([sys.executable, "-c", "import time; time.sleep(60)"], log,
                           dict(os.environ))  # fmt: skip
    with pytest.raises(Unavailable, match="did not serve within 0.5 s"):
        supervise.announced(proc, log, "the test process", timeout=0.5)
    assert not supervise.alive(proc.pid, None)


def test_child_env_and_log_paths(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", db_url="sqlite:///x.db", user="sam",
                        prometheus_url="http://127.0.0.1:9999")  # fmt: skip
    env = supervise.child_env(settings, {"EXTRA": "1"})
    assert env["BATON_HOME"] == str((tmp_path / "home").resolve())
    assert (env["BATON_DB_URL"], env["BATON_USER"], env["EXTRA"]) == ("sqlite:///x.db", "sam", "1")
    assert env["BATON_PROMETHEUS_URL"] == "http://127.0.0.1:9999"
    first = supervise.log_path(settings, "toy", "stable-v1")
    assert first.parent == (tmp_path / "home" / "logs" / "toy").resolve()
    assert first.name.startswith("stable-v1-") and first.suffix == ".log"
    assert supervise.baton_argv("serve") == [sys.executable, "-m", "baton.cli.main", "serve"]


FLAKY = (
    "import pathlib, sys\n"
    "p = pathlib.Path(sys.argv[1]); n = int(p.read_text() or 0) + 1; p.write_text(str(n))\n"
    "sys.exit(0 if n >= 3 else 9)\n"
)


def test_keep_running_restarts_what_dies_while_needed(tmp_path: Path) -> None:
    count = tmp_path / "runs"
    count.write_text("")
    argv = [sys.executable, "-c", FLAKY, str(count)]
    code = supervise.keep_running(argv, dict(os.environ), lambda: True, backoff_s=0.01)
    assert (code, count.read_text()) == (0, "3")  # died twice, then finished
    count.write_text("")
    code = supervise.keep_running(argv, dict(os.environ), lambda: False, backoff_s=0.01)
    assert (code, count.read_text()) == (9, "1")  # the work was over: not started again
    count.write_text("")
    code = supervise.keep_running(argv, dict(os.environ), lambda: True, max_restarts=1,
                                  backoff_s=0.01)  # fmt: skip
    assert (code, count.read_text()) == (9, "2")  # gave up


def test_a_failed_start_waits_twice_as_long_each_time_up_to_a_bound() -> None:
    backoff = Backoff()
    assert not backoff.waiting()
    assert [backoff.failed() for _ in range(7)] == [1, 2, 4, 8, 16, MAX_BACKOFF_S, MAX_BACKOFF_S]
    assert backoff.waiting()  # 30 s from now
    backoff.reset()
    assert backoff.failed() == 1.0


def test_a_backoff_keeps_its_callers_clock() -> None:
    now = [100.0]
    backoff = Backoff(clock=lambda: now[0])
    assert backoff.failed() == 1.0 and backoff.waiting()
    now[0] += 1.0
    assert not backoff.waiting()
