"""What ``deploy status`` reads from the record, the processes and the keeper file."""

from __future__ import annotations

import os
from pathlib import Path

from baton.config import Settings
from baton.core.deployment_records import RouterProcess
from baton.core.rollout_records import Change, Phase, RolloutTarget
from baton.rollout import supervise
from baton.rollout.deploy_status import deployment_status
from baton.store.rollouts import Expected, NewRollout, Rollouts
from baton.store.store import Store
from tests.rollout.canary_world import canary_world
from tests.rollout.conftest import dead_url
from tests.rollout.recorded import recorded


def test_a_deployment_none_of_whose_processes_runs_says_so(store: Store, tmp_path: Path) -> None:
    canary_world(store, tmp_path / "org")
    recorded(store)  # router and server long gone, no keeper ever started
    settings = Settings(home=tmp_path / "home", user="sam")
    (found,) = deployment_status(store, "toy", settings)
    assert found.here and found.router_running is False and found.running == {"stable": False}
    assert found.keeper is False and found.nothing_runs
    assert found.weights is None and found.router_said == "the router does not run"


def test_a_local_canary_in_progress_is_nothing_a_kserve_one_is_not(
    store: Store, tmp_path: Path
) -> None:
    """``deploy up`` brings a deployment back with its local canary (which resumes); one on
    another platform must be aborted first, so the hint would be wrong there."""
    canary_world(store, tmp_path / "org")
    recorded(store)
    rollouts = Rollouts(store.engine)
    local = rollouts.start(NewRollout(model="toy", from_version=1, to_version=2,
                                      baseline_version=1), "sam")  # fmt: skip
    settings = Settings(home=tmp_path / "home", user="sam")
    (found,) = deployment_status(store, "toy", settings)
    assert found.rollout is not None and found.nothing_runs
    rollouts.update(local.id, Change(phase=Phase.ABORTED), expected=Expected.of(local),
                    actor="sam")  # fmt: skip
    rollouts.start(NewRollout(model="toy", from_version=1, to_version=2, baseline_version=1,
                              target=RolloutTarget.KSERVE), "sam")  # fmt: skip
    (found,) = deployment_status(store, "toy", settings)
    assert found.rollout is not None and not found.nothing_runs


def test_without_settings_the_keeper_is_not_judged(store: Store, tmp_path: Path) -> None:
    """No settings, no keeper file to read: whether it runs is unknown, so is the rest."""
    canary_world(store, tmp_path / "org")
    recorded(store)
    (found,) = deployment_status(store, "toy")
    assert found.keeper is None and not found.nothing_runs


def test_a_router_that_runs_without_its_keeper_is_unwatched(store: Store, tmp_path: Path) -> None:
    """What ``deploy up`` and ``restore`` start a keeper again for: something runs here, the
    keeper does not. Nothing running is not that (``deploy up`` brings it all back), and
    neither is a keeper nobody could look for."""
    canary_world(store, tmp_path / "org")
    me = RouterProcess(pid=os.getpid(), started=supervise.start_ticks(os.getpid()),
                       url=dead_url(), log="r.log", token_file=str(tmp_path / "token"))  # fmt: skip
    recorded(store, router=me)  # the router runs (this process), the server is long gone
    settings = Settings(home=tmp_path / "home", user="sam")
    (found,) = deployment_status(store, "toy", settings)
    assert found.runs and found.keeper is False and found.unwatched and not found.nothing_runs
    (unknown,) = deployment_status(store, "toy")  # no settings: the keeper is not judged
    assert unknown.runs and not unknown.unwatched


def test_nothing_running_is_not_unwatched(store: Store, tmp_path: Path) -> None:
    canary_world(store, tmp_path / "org")
    recorded(store)
    (found,) = deployment_status(store, "toy", Settings(home=tmp_path / "home", user="sam"))
    assert not found.runs and not found.unwatched and found.nothing_runs
