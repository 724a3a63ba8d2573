"""Deploy and canary through the control plane with real processes: ``deploy up`` starts the
stable server and the router from the API's thread pool, ``canary start`` spawns the
controller and answers once it holds the rollout, ``abort`` is carried out by it, and
``deploy down`` stops them all. Prometheus points at a port nothing listens on (the
controller pauses and alerts): these tests are about the HTTP edge, the judging about
``tests/rollout``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from baton.config import Settings
from baton.core.deployment_records import DeploymentRecord, ServerProcess
from baton.core.roles import NotPermitted
from baton.core.rollout_records import Phase
from baton.errors import Conflict
from baton.rollout import supervise
from baton.rollout_control import CanaryPlan
from baton.store.store import Store, open_store
from tests.api.conftest import Api, serve
from tests.rollout.canary_world import canary_world
from tests.rollout.conftest import dead_url
from tests.waiting import wait_until

ROW = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Api, Store]]:
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}",
                        user="nobody", prometheus_url=dead_url())  # fmt: skip
    store = open_store(settings)
    world = canary_world(store, tmp_path / "org")
    try:
        for url in serve(store, settings=settings):
            yield Api(url, world), store
    finally:  # what the test started under tmp_path goes with the sweep (tests/strays.py)
        store.close()


def test_deploy_canary_abort_and_down_over_http(live: tuple[Api, Store]) -> None:
    api, store = live
    sam = api.remote("sam")
    record = sam.deploy_up("toy", 5.0, "deployed through the API")
    assert isinstance(record, DeploymentRecord) and record.started_by == "sam"
    answer = httpx.post(f"{record.router.url}/v2/models/toy/infer", json={"inputs": [ROW]},
                        timeout=30)  # fmt: skip
    assert answer.status_code == 200 and answer.headers["x-baton-variant"] == "stable"
    with pytest.raises(Conflict, match="toy is already deployed"):
        sam.deploy_up("toy", 5.0, "twice")
    (status,) = sam.deployments("toy")
    assert status.router_running and status.running == {"stable": True}
    assert status.keeper is True and not status.nothing_runs  # the control plane's own keeper
    assert status.weights == {"stable": 100.0, "baseline": 0.0, "canary": 0.0}

    with pytest.raises(NotPermitted, match="R or A of deployment"):
        api.remote("mia").canary_start("toy", 2, "not my call", CanaryPlan("test"))
    rollout = sam.canary_start("toy", 2, "release 2 through the API", CanaryPlan("test"))
    assert (rollout.to_version, rollout.started_by) == (2, "sam")
    assert rollout.spec.interval_s == 5.0  # the test profile, not production's
    held = sam.canary_status("toy")
    assert held.rollout.id == rollout.id and held.owned and held.deployment is not None
    again = api.http("sue").post("/v1/models/toy/canary", json={"version": 2, "why": "again"})
    assert again.status_code == 409, again.text
    with pytest.raises(Conflict, match="abort it first"):
        sam.deploy_down("toy", 5.0, "too early")

    def started() -> list[ServerProcess]:  # the controller starts the baseline and canary
        deployment = sam.canary_status("toy").deployment
        servers = [] if deployment is None else deployment.processes.servers
        return servers if len(servers) == 3 else []

    servers = wait_until(started, "the baseline and canary servers", timeout=90)
    aborted = sam.canary_steer("toy", "abort", "stopped from the API")
    assert aborted.phase in (Phase.ROLLING_BACK, Phase.ABORTED)
    # at once: it waits out the rollback (it was a 409, "abort it first" or a stale record)
    down = sam.deploy_down("toy", 5.0, "done")
    assert down.stopped_by == "sam"
    ended = sam.canary_status("toy").rollout
    assert ended.phase is Phase.ABORTED and ended.weights.stable == 100, ended.summary()
    for process in [down.router, *servers]:
        assert not supervise.alive(process.pid, process.started), process
    assert sam.deployments("toy") == []
    actions = [(e.action, e.actor) for e in store.registry.log_entries("toy", 500)]
    for expected in (("deploy.up", "sam"), ("rollout.start", "sam"), ("deploy.down", "sam"),
                     ("canary.start.refused", "mia"), ("rollout.update", "sam")):  # fmt: skip
        assert expected in actions, expected
