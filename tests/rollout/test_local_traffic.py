"""The local canary's traffic, as far as the canary tests do not reach it: the tidy after a
rollout ends, when ``deploy down`` got there first (it may run right after ``canary
abort``, while the controller still drains the canary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from baton.config import Settings
from baton.core.deployment_records import Variant
from baton.rollout import local_traffic
from baton.rollout.local_deploy import Launch
from baton.rollout.local_traffic import LocalTraffic
from baton.store.deployments import Deployments
from baton.store.store import Store
from tests.rollout.canary_world import canary_world
from tests.rollout.recorded import CANARY, STABLE, recorded


@pytest.fixture
def traffic(store: Store, tmp_path: Path) -> LocalTraffic:
    """The controller's traffic for ``toy``, whose versions 1 and 2 are registered."""
    canary_world(store, tmp_path / "org")
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}")
    return LocalTraffic(Launch(settings), store, "controller:h:1")


def test_tidy_stops_all_but_the_stable_server(store: Store, traffic: LocalTraffic) -> None:
    deployment_id = recorded(store, STABLE, CANARY).id
    assert [p.variant for p in traffic.tidy("toy", "rollout #1 rolled back")] == [Variant.CANARY]
    after = Deployments(store.engine).get(deployment_id)
    assert after.up and [p.variant for p in after.processes.servers] == [Variant.STABLE]
    assert traffic.tidy("toy", "again") == []


def test_tidy_after_deploy_down_is_not_an_error(
    store: Store, traffic: LocalTraffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployments = Deployments(store.engine)
    deployment_id = recorded(store, STABLE, CANARY).id
    stop = local_traffic.stop

    def drained_while_taken_down(processes: list[Any], grace_s: float) -> None:
        stop(processes, grace_s)
        now = deployments.get(deployment_id)
        deployments.down(deployment_id, revision=now.revision, actor="sam", reason="done")

    monkeypatch.setattr(local_traffic, "stop", drained_while_taken_down)
    assert [p.variant for p in traffic.tidy("toy", "rollout #1 rolled back")] == [Variant.CANARY]
    assert deployments.get(deployment_id).stopped_by == "sam"
    assert traffic.tidy("toy", "after the end") == []  # nothing deployed: nothing to do
