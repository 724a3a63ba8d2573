"""``baton canary`` through the real command, on the KServe target with a GitOps folder (no
servers needed): a canary whose Prometheus cannot be reached pauses with an alert; a
person resumes it and promotes it now; each step's InferenceService lands in the folder;
status, JSON and refusals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from baton.config import Settings
from baton.core.rollout_records import Phase
from baton.store.canaries import Canaries
from baton.store.store import Store, open_store
from tests.baton_cli import baton, clean_env
from tests.ownership_factory import World
from tests.rollout.canary_world import canary_world


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home: Path, tmp_path: Path) -> Iterator[Store]:
    s = open_store(Settings(home=home, db_url=f"sqlite:///{tmp_path / 'b.db'}", user="t"))
    yield s
    s.close()


@pytest.fixture
def env(home: Path, tmp_path: Path) -> dict[str, str]:
    return clean_env(home, BATON_DB_URL=f"sqlite:///{tmp_path / 'b.db'}", BATON_USER="sam",
                     BATON_PROMETHEUS_URL="http://127.0.0.1:9")  # fmt: skip


def wait_phase(store: Store, rollout_id: int, phase: Phase, timeout: float = 90) -> None:
    canaries = Canaries(store.engine, store.registry)
    deadline = time.monotonic() + timeout
    while canaries.rollouts.get(rollout_id).phase is not phase:
        assert time.monotonic() < deadline, canaries.rollouts.get(rollout_id)
        time.sleep(0.2)


def test_pause_resume_promote_on_kserve(store: Store, env: dict[str, str], tmp_path: Path) -> None:
    world: World = canary_world(store, tmp_path / "org")
    gitops = tmp_path / "gitops"
    started = baton(env, "canary", "start", "toy", "--to", "2", "--profile", "test",
                    "--target", "kserve", "--apply-dir", str(gitops), "--why", "release 2",
                    "--json")  # fmt: skip
    assert started.returncode == 0, started.stderr
    rollout = json.loads(started.stdout)
    assert rollout["phase"] in ("initializing", "progressing") and rollout["target"] == "kserve"
    # Prometheus is not there: two unreadable intervals pause the canary, with an alert
    wait_phase(store, rollout["id"], Phase.PAUSED)
    status = baton(env, "canary", "status", "toy")
    assert status.returncode == 0, status.stderr
    assert "rollout #1 of toy (1 -> 2): paused at step 0, stable 80 / baseline 10 / canary 10" in (
        status.stdout
    )
    assert "alert (critical)" in status.stdout and "metrics unreadable 2 intervals" in status.stdout
    refused = baton({**env, "BATON_USER": "alice"}, "canary", "resume", "toy", "--why", "go on")
    assert refused.returncode == 1 and "may resume a canary" in refused.stderr
    assert baton(env, "canary", "resume", "toy").returncode == 2  # --why is required
    resumed = baton(env, "canary", "resume", "toy", "--why", "Prometheus is back")
    assert resumed.returncode == 0 and "progressing" in resumed.stdout, resumed.stderr
    promoted = baton({**env, "BATON_USER": "sue"}, "canary", "promote", "toy", "--why",
                     "ship it now")  # fmt: skip
    assert promoted.returncode == 0, promoted.stderr
    wait_phase(store, rollout["id"], Phase.SUCCEEDED)
    assert world.store.registry.model("toy")[0].aliases["production"] == 2
    docs = [yaml.safe_load(p.read_text()) for p in sorted(gitops.glob("*.yaml"))]
    assert docs[0]["spec"]["canary"][0]["trafficPercent"] == 10
    assert docs[-1]["spec"]["predictor"]["name"] == "v2" and "canary" not in docs[-1]["spec"]
    final = json.loads(baton(env, "canary", "status", "toy", "--json").stdout)
    assert final["rollout"]["phase"] == "succeeded" and final["owned"] is False
    assert final["rollout"]["reason"] == "promoted by sue, skipping the steps left: ship it now"


def test_refusals(store: Store, env: dict[str, str], tmp_path: Path) -> None:
    canary_world(store, tmp_path / "org")
    unknown = baton(env, "canary", "status", "toy")
    assert unknown.returncode == 2 and "toy never had a canary" in unknown.stderr
    local = baton(env, "canary", "start", "toy", "--to", "2", "--why", "go")
    assert local.returncode == 2 and "toy is not deployed here" in local.stderr
    hook = baton(env, "canary", "start", "toy", "--to", "2", "--target", "kserve", "--why", "go")
    assert hook.returncode == 2 and "--apply COMMAND or --apply-dir DIR" in hook.stderr
    steps = baton(env, "canary", "start", "toy", "--to", "2", "--steps", "10,60", "--target",
                  "kserve", "--apply-dir", str(tmp_path), "--why", "go")  # fmt: skip
    assert steps.returncode == 2 and "a step can give the canary 50 % at most" in steps.stderr
    nothing = baton(env, "canary", "pause", "toy", "--why", "x")
    assert nothing.returncode == 1 and "toy has no canary in progress" in nothing.stderr
