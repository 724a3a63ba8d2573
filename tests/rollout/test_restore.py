"""``baton deploy restore``, for a machine's start-up: what a reboot stopped comes back on
its old address, what runs or lives elsewhere is left alone, and a deployment that cannot
come back says why (and fails the command) without stopping the others."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

from baton.config import Settings
from baton.core.deployment_records import Processes
from baton.core.rollout_records import RolloutTarget
from baton.rollout.keeper_process import find_keeper, keeper_runs
from baton.rollout.local_deploy import UNWATCHED
from baton.rollout.restore import Outcome, restore
from baton.rollout_control import LocalRollouts
from baton.store.deployments import Deployments, NewDeployment
from baton.store.rollouts import NewRollout, Rollouts
from baton.store.store import Store
from tests.baton_cli import baton, clean_env
from tests.rollout.canary_world import canary_world
from tests.rollout.recorded import ROUTER, STABLE, recorded
from tests.rollout.test_local_deploy import deployed, port_taken, reboot, sam
from tests.waiting import wait_until


def test_what_a_reboot_stopped_comes_back_and_what_runs_is_left_alone(
    store: Store, tmp_path: Path
) -> None:
    canary_world(store, tmp_path / "org")
    env, home = sam(tmp_path)
    nothing = baton(env, "deploy", "restore")
    assert nothing.returncode == 0 and "nothing deployed: nothing to restore" in nothing.stdout
    with deployed(env) as old:
        reboot(home, old)
        done = baton(env, "deploy", "restore", "--json")
        assert done.returncode == 0, done.stderr
        (back,) = json.loads(done.stdout)
        assert (back["model"], back["outcome"]) == ("toy", "brought back")
        assert back["detail"] == old["router"]["url"]  # the address clients know
        assert back["moved_from"] is None
        log = json.loads(baton(env, "log", "--json").stdout)
        assert any("`deploy restore` brought back" in (e["reason"] or "") for e in log)
        again = baton(env, "deploy", "restore")
        said = " ".join(again.stdout.split())
        assert again.returncode == 0 and f"toy: running at {old['router']['url']}" in said, said
        keeper = find_keeper(Settings(home=home), "toy")  # killed alone, the rest running
        assert keeper is not None
        os.kill(keeper.pid, signal.SIGKILL)
        wait_until(lambda: not keeper.running(), "the keeper's kill")
        watched = baton(env, "deploy", "restore")
        said = " ".join(watched.stdout.split())
        assert f"toy: keeper started again at {old['router']['url']}" in said, said
        assert keeper_runs(Settings(home=home), "toy")
        entries = json.loads(baton(env, "log", "--json").stdout)
        (audited,) = [e for e in entries if e["action"] == "deploy.keeper.restart"]
        assert audited["reason"] == UNWATCHED  # not the machine's start-up: nothing rebooted


def test_one_brought_back_elsewhere_says_its_address_moved(store: Store, tmp_path: Path) -> None:
    canary_world(store, tmp_path / "org")
    env, home = sam(tmp_path)
    with deployed(env) as record:
        reboot(home, record)
        old = record["router"]["url"]
        with port_taken(old):  # taken while the machine started
            done = baton(env, "deploy", "restore")
        said = " ".join(done.stdout.split())
        assert done.returncode == 0, done.stderr
        assert "toy: brought back at http://127.0.0.1:" in said
        assert f"(moved: {old} was taken)" in said, said


def test_one_that_cannot_come_back_says_why_and_fails_the_command(
    store: Store, tmp_path: Path
) -> None:
    """A canary on another platform must be aborted first: ``deploy up`` says so."""
    canary_world(store, tmp_path / "org")
    recorded(store)  # its processes are long gone, no keeper
    Rollouts(store.engine).start(NewRollout(model="toy", from_version=1, to_version=2,
                                            baseline_version=1, target=RolloutTarget.KSERVE),
                                 "sam")  # fmt: skip
    env = clean_env(tmp_path / "home", BATON_DB_URL=f"sqlite:///{tmp_path / 'b.db'}",
                    BATON_USER="sam")  # fmt: skip
    done = baton(env, "deploy", "restore")
    said = " ".join(done.stdout.split())
    assert done.returncode == 1, said
    assert "toy: failed: nothing of deployment" in said and "`baton canary abort toy" in said


def test_a_deployment_on_another_machine_is_restored_there(store: Store, tmp_path: Path) -> None:
    canary_world(store, tmp_path / "org")
    assert socket.gethostname() != "elsewhere"
    new = NewDeployment("toy", "elsewhere", ROUTER, Processes(servers=(STABLE,)))
    Deployments(store.engine).up(new, "sam")
    settings = Settings(home=tmp_path / "home", user="sam")
    (found,) = restore(LocalRollouts(settings, store), 5.0, None)
    assert (found.model, found.outcome, found.detail) == ("toy", Outcome.ELSEWHERE, "elsewhere")
    assert not (tmp_path / "home" / "logs").exists()  # nothing was started
