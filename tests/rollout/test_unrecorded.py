"""Processes written down while their starter records them: crossed off when it is done,
stopped when it fails, and stopped by a sweep when it died first (a real starter process,
killed with SIGKILL between the start and the record)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.config import Settings
from baton.rollout import supervise
from baton.rollout.unrecorded import Spawned, Starting, folder, sweep

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "home").mkdir()
    return Settings(home=tmp_path / "home")


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Pids a test started; whatever still runs of them is killed afterwards."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        supervise.stop(pid, None, grace_s=1)


def sleeper(settings: Settings, cleanup: list[int]) -> subprocess.Popen[bytes]:
    proc = supervise.spawn(SLEEPER, settings.home / "sleeper.log", {})
    cleanup.append(proc.pid)
    return proc


def died_starting(settings: Settings, cleanup: list[int], model: str = "toy") -> Spawned:
    """A starter that spawns a process, writes it down and is killed before recording it."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from baton.config import Settings
        from baton.rollout import supervise
        settings = Settings(home=Path({str(settings.home)!r}))
        proc = supervise.spawn({SLEEPER!r}, settings.home / "orphan.log", {{}})
        from baton.rollout.unrecorded import Starting
        Starting(settings, {model!r}, 5).add(proc.pid, "the stable server of toy:1")
        print(proc.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == -9, done.stderr
    pid = int(done.stdout)
    cleanup.append(pid)
    (path,) = folder(settings, model).glob("*.json")
    entry = Spawned(**json.loads(path.read_text()))
    assert entry.pid == pid and entry.starter_pid != pid
    assert supervise.alive(pid, entry.started)
    return entry


def test_what_a_starter_records_is_crossed_off_and_left_running(
    settings: Settings, cleanup: list[int]
) -> None:
    with Starting(settings, "toy", 5) as starting:
        proc = sleeper(settings, cleanup)
        starting.add(proc.pid, "a sleeper")
        (path,) = folder(settings, "toy").glob("*.json")
        assert json.loads(path.read_text())["what"] == "a sleeper"
    assert list(folder(settings, "toy").iterdir()) == []
    assert supervise.alive(proc.pid, None)


def test_a_starter_that_fails_stops_what_it_started(settings: Settings, cleanup: list[int]) -> None:
    proc = sleeper(settings, cleanup)

    def record_fails() -> None:
        with Starting(settings, "toy", 5) as starting:
            starting.add(proc.pid, "a sleeper")
            raise RuntimeError("the record failed")

    with pytest.raises(RuntimeError, match="the record failed"):
        record_fails()
    assert not supervise.alive(proc.pid, None)
    assert list(folder(settings, "toy").iterdir()) == []


def test_a_sweep_stops_what_a_dead_starter_left_unrecorded(
    settings: Settings, cleanup: list[int]
) -> None:
    orphan = died_starting(settings, cleanup)
    asked: list[bool] = []

    def recorded() -> set[tuple[int, int | None]]:
        asked.append(True)
        return set()

    assert sweep(settings, "toy", recorded, grace_s=5) == [orphan]
    assert asked == [True]
    assert not supervise.alive(orphan.pid, orphan.started)
    assert list(folder(settings, "toy").glob("*.json")) == []
    assert sweep(settings, "toy", recorded, grace_s=5) == []  # nothing left to look at
    assert asked == [True]  # nor a record to read


def test_a_sweep_leaves_a_process_the_record_names(settings: Settings, cleanup: list[int]) -> None:
    """The starter died after recording it, before crossing it off."""
    orphan = died_starting(settings, cleanup)
    assert sweep(settings, "toy", lambda: {(orphan.pid, orphan.started)}, grace_s=5) == []
    assert supervise.alive(orphan.pid, orphan.started)
    assert list(folder(settings, "toy").glob("*.json")) == []


def test_a_sweep_leaves_a_living_starter_alone(settings: Settings, cleanup: list[int]) -> None:
    with Starting(settings, "toy", 5) as starting:
        proc = sleeper(settings, cleanup)
        starting.add(proc.pid, "a sleeper")
        assert sweep(settings, "toy", set, grace_s=5) == []  # still recording it
        assert supervise.alive(proc.pid, None)
        assert len(list(folder(settings, "toy").glob("*.json"))) == 1


def test_a_sweep_crosses_off_a_process_that_is_gone_and_a_file_that_is_no_entry(
    settings: Settings, cleanup: list[int]
) -> None:
    orphan = died_starting(settings, cleanup)
    supervise.stop(orphan.pid, orphan.started, grace_s=1)
    (folder(settings, "toy") / "junk.json").write_text("{not json")
    assert sweep(settings, "toy", set, grace_s=5) == []
    assert list(folder(settings, "toy").iterdir()) == []


def test_a_sweep_keeps_to_its_model(settings: Settings, cleanup: list[int]) -> None:
    orphan = died_starting(settings, cleanup, model="other")
    assert sweep(settings, "toy", set, grace_s=5) == []
    assert supervise.alive(orphan.pid, orphan.started)


def test_a_process_that_could_not_be_written_down_is_stopped_all_the_same(
    settings: Settings, cleanup: list[int]
) -> None:
    """Were it not kept in memory first, the failed write would leave it running unknown."""
    folder(settings, "toy").parent.mkdir(parents=True)
    folder(settings, "toy").write_text("a file where the folder should be")
    proc = sleeper(settings, cleanup)

    def write_down() -> None:
        with Starting(settings, "toy", 5) as starting:
            starting.add(proc.pid, "a sleeper")

    with pytest.raises(OSError, match="File exists|Not a directory"):
        write_down()
    assert not supervise.alive(proc.pid, None)
