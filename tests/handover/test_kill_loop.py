"""Real ``baton register`` runs killed at random moments leave nothing that ``baton gc``
does not clear; SIGTERM and Ctrl-C clean up at once, leaving nothing at all."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from baton.config import Settings
from baton.store.store import open_store
from tests.baton_cli import baton, clean_env
from tests.handover_factory import write_handover

KILLS = 9


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "systmp").mkdir()
    # grace 0: the test runs gc only once no registration is left running
    return clean_env(tmp_path / "home", BATON_GC_GRACE="0", TMPDIR=str(tmp_path / "systmp"))


def big_handover(folder: Path, seed: int, rows: int) -> Path:
    """A hand-over whose eval data (``rows`` x 64 float32) takes a while to store."""
    write_handover(folder, seed=seed, inputs=64, classes=10, hidden=(256,))
    rng = np.random.default_rng(seed)
    np.savez(folder / "eval.npz", input=rng.normal(size=(rows, 64)).astype(np.float32),
             label=rng.integers(0, 10, rows))  # fmt: skip
    return folder


def start_register(env: dict[str, str], folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "baton.cli.main", "register", str(folder)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for(proc: subprocess.Popen[str], condition: Callable[[], bool]) -> None:
    """Poll until ``condition`` holds or the process has ended by itself."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and not condition():
        assert time.monotonic() < deadline, "the registration neither ended nor got there"
        time.sleep(0.001)


def artifacts(env: dict[str, str]) -> Path:
    return Path(env["BATON_HOME"]) / "artifacts"


def copying(env: dict[str, str]) -> Callable[[], bool]:
    tmp = artifacts(env) / ".tmp"
    return lambda: tmp.is_dir() and any(tmp.iterdir())


def stored_more_than(env: dict[str, str], count: int) -> Callable[[], bool]:
    return lambda: len(list(artifacts(env).glob("??/*"))) > count


def test_kill_9_at_random_moments_then_gc_leaves_a_clean_store(
    env: dict[str, str], tmp_path: Path
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    why = f"(random seed {seed})"
    started = time.monotonic()
    first = start_register(env, big_handover(tmp_path / "h0", 0, 30_000))
    assert first.wait(120) == 0, first.stderr.read() if first.stderr else ""
    typical = time.monotonic() - started
    moments = []
    for i in range(1, KILLS + 1):
        folder = big_handover(tmp_path / f"h{i}", i, 30_000)
        proc = start_register(env, folder)
        moment = rng.choice(["copying", "stored", "any"])
        if moment == "copying":  # mid-copy: a partial file in .tmp
            wait_for(proc, copying(env))
        elif moment == "stored":  # between storing a file and committing its record
            wait_for(proc, stored_more_than(env, len(list(artifacts(env).glob("??/*")))))
        else:
            kill_at = time.monotonic() + rng.uniform(0.3, 1.1) * typical
            wait_for(proc, lambda kill_at=kill_at: time.monotonic() >= kill_at)  # type: ignore[misc]
        proc.kill()
        proc.wait()
        moments.append(moment)

    before = baton(env, "verify", "--json")
    assert before.returncode == 0, before.stdout + before.stderr + why
    report = json.loads(before.stdout)
    assert report["orphans"] or report["temporary"], f"no kill left anything {moments} {why}"

    again = baton(env, "register", str(tmp_path / f"h{KILLS}"))  # a killed hand-over, retried
    assert again.returncode == 0, again.stderr + why
    gc = baton(env, "gc", "--json")
    assert gc.returncode == 0, gc.stderr + why
    after = json.loads(baton(env, "verify", "--json").stdout)
    assert (after["problems"], after["orphans"], after["temporary"]) == ([], [], []), why
    assert not list((artifacts(env) / ".tmp").iterdir()), why
    assert not list((tmp_path / "systmp").glob("baton-*")), why
    store = open_store(Settings(home=Path(env["BATON_HOME"])))
    try:
        assert set(store.artifacts.all_digests()) == store.registry.referenced_digests(), why
        assert after["checked"] == len(store.registry.referenced_digests())
    finally:
        store.close()


@pytest.mark.parametrize(("sig", "code", "said"), [
    (signal.SIGTERM, 143, "terminated"),
    (signal.SIGINT, 130, ""),  # typer ends a Ctrl-C quietly: the terminal shows ^C
])  # fmt: skip
def test_sigterm_cleans_up_as_ctrl_c_does(
    env: dict[str, str], tmp_path: Path, sig: signal.Signals, code: int, said: str
) -> None:
    for attempt in range(3):
        if attempt:  # a fresh store: the one before holds the registration that finished
            env = {**env, "BATON_HOME": str(tmp_path / f"home{attempt}")}
        proc = start_register(env, big_handover(tmp_path / f"h{attempt}", 1, 150_000))
        wait_for(proc, copying(env))
        assert proc.poll() is None, "the registration ended before it could be stopped"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            break
        # Too late: on a loaded machine this process can be held off the CPU from seeing the
        # copy to sending the signal while the registration ends, the signal then landing
        # in the interpreter's exit (seen once in a full run). Three in a row is a failure.
    assert proc.returncode == code and said in err and "Traceback" not in err, err
    # nothing stored (an empty shard folder the cleanup leaves holds nothing)
    assert [p for p in artifacts(env).rglob("*") if not p.is_dir()] == []
    assert json.loads(baton(env, "models", "--json").stdout) == []
    assert not list((tmp_path / "systmp").glob("baton-*"))
