"""The local canary's traffic, as far as the canary tests do not reach it: the tidy after a
rollout ends, when ``deploy down`` got there first (it may run right after ``canary
abort``, while the controller still drains the canary); the rollback after a reboot, when
nothing routes; a promotion after a reboot; a stable server that dies mid-rollout."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.config import Settings
from baton.core.canary_roles import CanaryAction
from baton.core.deployment_records import RouterProcess, ServerProcess, Variant
from baton.core.rollout_records import Holder, Phase, RolloutSpec
from baton.errors import Unavailable
from baton.rollout import local_traffic, supervise
from baton.rollout.controller import Controller, Timing
from baton.rollout.keeper_process import keeper_file, listening_socket
from baton.rollout.local_deploy import (
    Launch,
    label,
    read_token,
    start_router,
    start_server,
    stop_processes,
)
from baton.rollout.local_traffic import LocalTraffic
from baton.rollout.router_admin import RouterAdmin
from baton.rollout.unrecorded import folder
from baton.store.canaries import Canaries
from baton.store.deployments import Deployments, StaleRevision
from baton.store.store import Store
from tests.ownership_factory import World
from tests.rollout.canary_world import Scripted, canary_world
from tests.rollout.conftest import dead_url
from tests.rollout.recorded import CANARY, ROUTER, STABLE, recorded
from tests.rollout.test_local_deploy import target_file
from tests.waiting import wait_until


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    """``toy`` 1 in production, 2 approved for production through a canary."""
    return canary_world(store, tmp_path / "org")


@dataclass
class Serving:
    """A real stable server of ``toy`` 1 behind a real router; both are stopped after the
    test, with whatever it appends to ``started``."""

    router: RouterProcess
    stable: ServerProcess
    started: list[RouterProcess | ServerProcess]

    def infer(self) -> httpx.Response:
        row = {"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.1, 0.2, 0.3, 0.4]}
        return httpx.post(f"{self.router.url}/v2/models/toy/infer", json={"inputs": [row]},
                          timeout=30)  # fmt: skip


@pytest.fixture
def serving(traffic: LocalTraffic) -> Iterator[Serving]:
    launch = traffic.launch
    sock = listening_socket(launch.host)
    started: list[RouterProcess | ServerProcess] = []
    try:
        with launch.starting("toy") as starting:
            stable = start_server(launch, "toy", 1, Variant.STABLE, 1, starting=starting)
            started.append(stable)
            router = start_router(launch, "toy", {"stable": stable.url}, sock, starting=starting)
            started.insert(0, router)  # no new requests first
        yield Serving(router, stable, started)
    finally:
        sock.close()
        stop_processes(started, 10)


@pytest.fixture
def traffic(store: Store, world: World, tmp_path: Path) -> LocalTraffic:
    """The controller's traffic for ``toy``, whose versions 1 and 2 are registered."""
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

    def drained_while_taken_down(processes: list[Any], grace_s: float, *settings: Any) -> None:
        stop(processes, grace_s, *settings)
        now = deployments.get(deployment_id)
        deployments.down(deployment_id, revision=now.revision, actor="sam", reason="done")

    monkeypatch.setattr(local_traffic, "stop", drained_while_taken_down)
    assert [p.variant for p in traffic.tidy("toy", "rollout #1 rolled back")] == [Variant.CANARY]
    assert deployments.get(deployment_id).stopped_by == "sam"
    assert traffic.tidy("toy", "after the end") == []  # nothing deployed: nothing to do


def test_an_abort_after_a_reboot_ends_the_rollout_without_a_router(
    store: Store, world: World, traffic: LocalTraffic
) -> None:
    """The host restarted mid-canary: router, servers, keeper and controller are gone. The
    abort's rollback has no traffic to send back, so the controller ends the rollout (and
    stops nothing, records the canary gone) instead of failing on the dead router forever."""
    deployment_id = recorded(store, STABLE, CANARY).id  # every pid long gone
    canaries = Canaries(store.engine, store.registry)
    spec = RolloutSpec(steps=(10, 50), interval_s=2)
    rollout = canaries.start("toy", 2, world.people["sue"], "release 2", spec=spec)
    canaries.steer("toy", CanaryAction.ABORT, world.people["sam"], "the host restarted")
    controller = Controller(canaries, rollout.id, Holder(os.getpid(), "h"), Scripted([]),
                            traffic, Timing())  # fmt: skip
    done = controller.run()
    assert done.phase is Phase.ABORTED
    after = Deployments(store.engine).get(deployment_id)
    assert [p.variant for p in after.processes.servers] == [Variant.STABLE]
    assert world.store.registry.model("toy")[0].aliases.get("production") == 1  # unmoved


def test_a_dead_router_whose_keeper_runs_is_asked_again(
    store: Store, world: World, traffic: LocalTraffic, tmp_path: Path
) -> None:
    """The keeper starts the router again (with the weights on record): the rollback must
    reach it, so it fails now and the controller's next try sends the traffic back."""
    token = tmp_path / "router.token"
    token.write_text("secret")
    router = ROUTER.model_copy(update={"url": dead_url(), "token_file": str(token)})
    record = recorded(store, STABLE, CANARY, router=router)
    canaries = Canaries(store.engine, store.registry)
    spec = RolloutSpec(steps=(10, 50), interval_s=2)
    rollout = canaries.start("toy", 2, world.people["sue"], "release 2", spec=spec)
    path = keeper_file(traffic.launch.settings, "toy")
    path.parent.mkdir(parents=True)
    me = os.getpid()
    path.write_text(json.dumps({"pid": me, "started": supervise.start_ticks(me),
                                "deployment": record.id, "log": "k.log"}))  # fmt: skip
    with pytest.raises(Unavailable, match=f"cannot reach the router at {router.url}"):
        traffic.rollback(rollout, "judged bad")


def test_a_promotion_after_a_reboot_starts_the_canary_server_again_first(
    store: Store, world: World, traffic: LocalTraffic, serving: Serving
) -> None:
    """A reboot mid-promotion: ``deploy up`` brought back the stable server and the router,
    but the canary's server is dead; all traffic sent there would find nothing. The
    promotion starts it again (same version, its dead target file removed) and records it."""
    launch, router, stable = traffic.launch, serving.router, serving.stable
    label(launch.settings, "toy", CANARY)  # as the canary left it when the host stopped
    record = recorded(store, stable, CANARY, router=router)
    rollout = Canaries(store.engine, store.registry).start(
        "toy", 2, world.people["sue"], "release 2", spec=RolloutSpec(steps=(10, 50))
    )
    traffic.promote(rollout, "every step passed")
    after = Deployments(store.engine).get(record.id)
    promoted = after.server(Variant.STABLE)
    assert promoted is not None
    serving.started.append(promoted)
    assert promoted.version == 2 and promoted.url != CANARY.url
    assert supervise.alive(promoted.pid, promoted.started)
    retiring = after.server(Variant.RETIRING)
    assert retiring is not None and (retiring.pid, retiring.version) == (stable.pid, 1)
    assert not target_file(launch.settings.home, CANARY.url).exists()
    answer = serving.infer()
    assert answer.status_code == 200 and answer.json()["model_version"] == "2"


def test_a_stable_server_dead_mid_rollout_is_started_again_and_routed(
    store: Store, world: World, traffic: LocalTraffic, serving: Serving
) -> None:
    """The keeper leaves the servers to the controller during a rollout; the stable one
    takes most of the traffic, so the controller's mend starts it again (same version, a
    new port, the dead one's target file removed) and routes the record's weights to it;
    a router that applies another table (restarted from a stale row) is routed again."""
    launch, router, stable = traffic.launch, serving.router, serving.stable
    record = recorded(store, stable, router=router)
    rollout = Canaries(store.engine, store.registry).start(
        "toy", 2, world.people["sue"], "release 2", spec=RolloutSpec(steps=(10, 50))
    )
    assert not traffic.mend(rollout)  # alive: nothing to do
    os.kill(stable.pid, signal.SIGKILL)
    wait_until(lambda: not supervise.alive(stable.pid, stable.started), "the kill")
    assert traffic.mend(rollout)
    after = Deployments(store.engine).get(record.id).server(Variant.STABLE)
    assert after is not None and after.version == 1 and after.url != stable.url
    serving.started.append(after)
    assert supervise.alive(after.pid, after.started)
    assert not target_file(launch.settings.home, stable.url).exists()
    answer = serving.infer()
    assert answer.status_code == 200 and answer.json()["model_version"] == "1"
    assert not traffic.mend(rollout)
    # killed again, started again and recorded, but the router could not be told then
    os.kill(after.pid, signal.SIGKILL)
    wait_until(lambda: not supervise.alive(after.pid, after.started), "the kill")
    _, third = traffic._restarted(Deployments(store.engine).get(record.id), after, rollout)
    serving.started.append(third)
    assert traffic.mend(rollout)  # the router still sends the stable share to a dead one
    with RouterAdmin(router.url, read_token(router)) as admin:
        assert admin.weights().upstreams["stable"] == third.url
    assert not traffic.mend(rollout)


def test_a_baseline_dead_mid_rollout_is_started_again_a_dead_canary_is_left_to_the_judge(
    store: Store, world: World, traffic: LocalTraffic, serving: Serving
) -> None:
    """The baseline takes as many requests as the canary: dead, they would fail until the
    rollout ends. A dead canary's failures are what the judge must see."""
    launch, router, stable = traffic.launch, serving.router, serving.stable
    with launch.starting("toy") as starting:
        baseline = start_server(launch, "toy", 1, Variant.BASELINE, 1, starting=starting)
    serving.started.append(baseline)
    record = recorded(store, stable, baseline, CANARY, router=router)  # the canary is dead
    rollout = Canaries(store.engine, store.registry).start(
        "toy", 2, world.people["sue"], "release 2", spec=RolloutSpec(steps=(10, 50))
    )
    os.kill(baseline.pid, signal.SIGKILL)
    wait_until(lambda: not supervise.alive(baseline.pid, baseline.started), "the kill")
    assert traffic.mend(rollout)
    after = Deployments(store.engine).get(record.id)
    again = after.server(Variant.BASELINE)
    assert again is not None and again.version == 1 and again.pid != baseline.pid
    serving.started.append(again)
    assert supervise.alive(again.pid, again.started)
    assert after.server(Variant.CANARY) == CANARY  # still dead: not started again
    assert after.server(Variant.STABLE) == stable
    reasons = [e.reason or "" for e in store.registry.log_entries("toy", 10)]
    assert any(f"the baseline server (pid {baseline.pid}) died" in r for r in reasons)


def test_servers_prepared_for_a_record_that_changed_meanwhile_are_stopped(
    store: Store, world: World, traffic: LocalTraffic, serving: Serving,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The baseline and canary are recorded after both started; when the deployment changed
    in between (``deploy down``, say), the record is refused and no record will ever name
    them: they were left running, unknown to ``deploy down`` (found in review)."""
    deployments = Deployments(store.engine)
    record = recorded(store, serving.stable, router=serving.router)
    rollout = Canaries(store.engine, store.registry).start(
        "toy", 2, world.people["sue"], "release 2", spec=RolloutSpec(steps=(10, 50))
    )
    started: list[ServerProcess] = []

    def meanwhile(*args: Any, **kwargs: Any) -> ServerProcess:
        server = start_server(*args, **kwargs)
        started.append(server)
        if len(started) == 2:  # both up, not yet recorded: someone changes the deployment
            now = deployments.get(record.id)
            deployments.change(record.id, now.processes, revision=now.revision, actor="sam",
                               reason="meanwhile")  # fmt: skip
        return server

    monkeypatch.setattr(local_traffic, "start_server", meanwhile)
    with pytest.raises(StaleRevision):
        traffic.prepare(rollout)
    assert [s.variant for s in started] == [Variant.BASELINE, Variant.CANARY]
    assert not any(supervise.alive(s.pid, s.started) for s in started)
    assert list(folder(traffic.launch.settings, "toy").glob("*")) == []
