"""The canary on a Compose host, live without Docker: the rendered Compose file's services run
as local processes (``tests/rollout/compose_local.py``: each its own command and
environment, ports moved to free loopback ones), the rendered router routes to the rendered
servers, and the controller loop moves its weights through the admin API, bringing the
baseline and canary services up and down through apply hooks. The judge is scripted (the
judge against a real Prometheus is tested with ``baton deploy up``); everything else is the
real part. Requests flow through the router the whole time and none fails."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.config import Settings
from baton.core.canary_steps import Judgement
from baton.core.rollout_records import (
    Holder,
    Phase,
    RolloutRecord,
    RolloutSpec,
    RolloutTarget,
    Weights,
)
from baton.deploy.service import RenderRequest, render
from baton.errors import BadInput
from baton.rollout.compose_traffic import ComposeOptions, ComposeTraffic
from baton.rollout.controller import Controller, Timing
from baton.rollout.router_admin import RouterAdmin
from baton.store.canaries import Canaries
from baton.store.store import Store, open_store
from tests.baton_cli import baton, clean_env, free_port
from tests.ownership_factory import World
from tests.rollout.canary_world import Scripted, canary_world, passing
from tests.rollout.compose_local import LocalCompose

TOKEN = "a-compose-router-token-of-32-chars"
SPEC = RolloutSpec(steps=(5, 10, 25, 50), interval_s=0.5)
FAST = Timing(poll_s=0.05, settle_s=0.0)
ROW = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4],
                   "data": [0.5, -1.0, 2.0, 0.25]}]}  # fmt: skip
HOOK = f"{sys.executable} {Path(__file__).with_name('compose_local.py')}"  # any working dir


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}",
                    user="sam")  # fmt: skip


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> Iterator[World]:
    store = open_store(settings)
    try:
        yield canary_world(store, tmp_path / "handovers")
    finally:
        store.close()


@pytest.fixture
def compose(world: World, tmp_path: Path) -> Iterator[LocalCompose]:
    """``toy`` 1 rendered for Compose with 2 as its canary, and every service up (as
    ``docker compose up -d --wait``); all stopped at the end."""
    store = world.store

    def rendered(ref: str, out: Path, **options: Any) -> Path:
        request = RenderRequest(ref=ref, targets=("compose",), out=out, **options)
        return render(store, "sam", request).out

    out = rendered("toy:1", tmp_path / "render", with_router=True, canary=2, percent=5)
    canary_model = rendered("toy:2", tmp_path / "render2") / "model"  # the canary's image's
    token = tmp_path / "render" / "router.token"
    token.write_text(TOKEN + "\n")
    local = LocalCompose.plan(
        out / "compose/compose.yaml", tmp_path / "run",
        models={"baton": out / "model", "baseline": out / "model", "canary": canary_model},
        secrets={"router_token": token},
    )  # fmt: skip
    try:
        local.up("baton", "baseline", "canary", "router", wait=True)
        yield local
    finally:
        LocalCompose.load(local.state).stop(*local.baton_services())


@dataclass
class Load:
    """Requests through the router until stopped: each answer's status and model version."""

    url: str
    answers: list[tuple[int, str | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                r = client.post("/v2/models/toy/infer", json=ROW)
                version = r.json().get("model_version") if r.status_code == 200 else None
                self.answers.append((r.status_code, version))

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def versions(self) -> Counter[str | None]:
        return Counter(v for _, v in self.answers)


def _rollout(world: World) -> RolloutRecord:
    canaries = Canaries(world.store.engine, world.store.registry)
    return canaries.start("toy", 2, world.people["sam"], "release 2", spec=SPEC,
                          target=RolloutTarget.COMPOSE)  # fmt: skip


def _run(world: World, settings: Settings, compose: LocalCompose,
         plan: list[Judgement]) -> tuple[RolloutRecord, ComposeTraffic]:  # fmt: skip
    state = compose.state
    options = ComposeOptions(
        router_url=compose.url("router"), apply=f"{HOOK} {state} up baseline canary",
        retire=f"{HOOK} {state} stop", token_file=str(compose.secrets["router_token"]),
    ).bound(settings, "toy")  # fmt: skip
    traffic = ComposeTraffic(settings, options, "controller")
    canaries = Canaries(world.store.engine, world.store.registry)
    rollout = _rollout(world)
    controller = Controller(canaries, rollout.id, Holder(os.getpid(), "test"), Scripted(plan),
                            traffic, FAST)  # fmt: skip
    return controller.run(), traffic


def _weights_applied(compose: LocalCompose) -> list[tuple[dict[str, float], str | None]]:
    """Each weight change the router applied, from its own store (its container's home):
    the weights and the stable variant's server."""
    home = Path(compose._local("router", "/tmp/baton"))
    store: Store = open_store(Settings(home=home, user="router"))
    try:
        entries = store.registry.log_entries(None, limit=100)
    finally:
        store.close()
    changes: list[Any] = [e.detail for e in reversed(entries) if e.action == "router.weights"]
    return [(dict(c["to"]), c["upstreams"]["stable"]) for c in changes]


def test_every_step_through_the_rendered_router_then_promotion(
    world: World, settings: Settings, compose: LocalCompose
) -> None:
    with Load(compose.url("router")) as load:
        done, traffic = _run(world, settings, compose, list(passing(4)))
        after = len(load.answers)
        while len(load.answers) < after + 50:  # requests after the promotion
            threading.Event().wait(0.05)
    assert done.phase is Phase.SUCCEEDED
    assert [s for s, _ in load.answers if s != 200] == []  # no request failed
    served = load.versions()
    assert served["1"] > 0 and served["2"] > 0
    assert {v for _, v in load.answers[after:]} == {"2"}  # the canary serves everything now
    stable, canary = compose.url("baton"), compose.url("canary")
    assert _weights_applied(compose) == [
        *(({"stable": 100.0 - 2 * p, "baseline": p, "canary": p}, stable)
          for p in (5.0, 10.0, 25.0, 50.0)),
        ({"stable": 100.0, "baseline": 0.0, "canary": 0.0}, canary),
    ]  # fmt: skip
    state = LocalCompose.load(compose.state)
    assert state.running() == {"canary", "router"}  # the old stable and the baseline retired
    assert traffic.hooks_run[-1].endswith("stop baton baseline")
    assert world.store.registry.model("toy")[0].aliases["production"] == 2
    # the router's container started again (a host reboot) keeps the promoted version: its
    # command line still names the old stable service, retired by now
    state.stop("router")
    state.up("router", wait=True)
    with RouterAdmin(compose.url("router"), TOKEN) as admin:
        table = admin.weights()
    assert table.weights == {"stable": 100.0, "baseline": 0.0, "canary": 0.0}
    assert table.upstreams["stable"] == canary
    with Load(compose.url("router")) as load:
        while len(load.answers) < 20:
            threading.Event().wait(0.05)
    assert set(load.answers[:20]) == {(200, "2")}


def test_the_hook_brings_the_canary_up_and_a_rollback_sends_everything_back(
    world: World, settings: Settings, compose: LocalCompose
) -> None:
    plan = [*passing(1), Judgement("rollback", "critical: error rate", score=0.0,
                                   failed_check=True)]  # fmt: skip
    compose.stop("baseline", "canary")  # the apply hook brings them up; step 1 waits for them
    assert compose.running() == {"baton", "router"}
    with Load(compose.url("router")) as load:
        done, traffic = _run(world, settings, compose, plan)
        after = len(load.answers)
        while len(load.answers) < after + 50:
            threading.Event().wait(0.05)
    assert done.phase is Phase.FAILED and done.reason == "critical: error rate"
    assert [s for s, _ in load.answers if s != 200] == []
    assert {v for _, v in load.answers[after:]} == {"1"}
    stable = compose.url("baton")
    assert traffic.hooks_run[0].endswith("up baseline canary")
    assert _weights_applied(compose) == [  # step 1 applied once the hook's services were ready
        ({"stable": 90.0, "baseline": 5.0, "canary": 5.0}, stable),
        ({"stable": 80.0, "baseline": 10.0, "canary": 10.0}, stable),
        ({"stable": 100.0, "baseline": 0.0, "canary": 0.0}, stable),
    ]
    assert LocalCompose.load(compose.state).running() == {"baton", "router"}
    assert traffic.hooks_run[-1].endswith("stop canary baseline")
    assert world.store.registry.model("toy")[0].aliases["production"] == 1


def test_a_router_started_again_gets_the_steps_weights_back(
    world: World, settings: Settings, compose: LocalCompose
) -> None:
    """A router container started again applies the weights it last applied (its state
    volume); one whose volume was lost starts from its command line's, and the
    controller's mend sets the step's weights (and stable server) again."""
    options = ComposeOptions(router_url=compose.url("router"), apply="true",
                             token_file=str(compose.secrets["router_token"]),
                             ).bound(settings, "toy")  # fmt: skip
    traffic = ComposeTraffic(settings, options, "controller")
    step = replace(_rollout(world), weights=Weights(stable=80, baseline=10, canary=10))
    traffic.route(step, step.weights, "step 2")
    assert not traffic.mend(step)  # the router applies the step's weights: nothing to do
    compose.stop("router")
    compose.up("router", wait=True)
    with RouterAdmin(compose.url("router"), TOKEN) as admin:
        kept = admin.weights()
    assert kept.weights == {"stable": 80.0, "baseline": 10.0, "canary": 10.0}
    assert kept.generation == 2  # where it was: the controller's next change follows on
    assert not traffic.mend(step)
    compose.stop("router")
    (state,) = (Path(compose.folder) / "volumes" / "router-state").glob("*.json")
    state.unlink()  # `docker compose down -v`, or a volume lost
    compose.up("router", wait=True)
    with RouterAdmin(compose.url("router"), TOKEN) as admin:
        assert admin.weights().weights == {"stable": 90.0, "baseline": 5.0, "canary": 5.0}
        assert traffic.mend(step)
        again = admin.weights()
    assert again.weights == {"stable": 80.0, "baseline": 10.0, "canary": 10.0}
    assert again.upstreams["stable"] == options.upstreams["stable"]
    assert not traffic.mend(step)


def test_a_router_without_a_canary_is_refused_before_anything_is_recorded(
    world: World, settings: Settings, tmp_path: Path
) -> None:
    from baton.rollout.compose_traffic import start

    store = world.store
    request = RenderRequest(ref="toy:1", targets=("compose",), out=tmp_path / "plain",
                            with_router=True)  # fmt: skip
    out = render(store, "sam", request).out
    token = tmp_path / "router.token"
    token.write_text(TOKEN)
    local = LocalCompose.plan(out / "compose/compose.yaml", tmp_path / "run",
                              models={"baton": out / "model"},
                              secrets={"router_token": token})  # fmt: skip
    try:
        local.up("baton", "router", wait=True)
        options = ComposeOptions(router_url=local.url("router"), apply="true",
                                 token_file=str(token))  # fmt: skip
        with pytest.raises(BadInput, match="has no baseline or canary server: render"):
            start(settings, store, "toy", 2, SPEC, "release 2", options, spawn=False)
        wrong = ComposeOptions(router_url=local.url("router"), apply="true",
                               token_file=str(tmp_path / "none"))  # fmt: skip
        with pytest.raises(BadInput, match="cannot read the admin token file"):
            start(settings, store, "toy", 2, SPEC, "release 2", wrong, spawn=False)
    finally:
        local.stop(*local.baton_services())
    canaries = Canaries(store.engine, store.registry)
    assert canaries.rollouts.active("toy") is None


def test_the_cli_starts_a_compose_canary_and_an_abort_rolls_it_back(
    world: World, settings: Settings, compose: LocalCompose
) -> None:
    """``baton canary start --target compose`` spawns the controller (``baton canary run``,
    wired by ``controller_run``): it brings the services up through the hook and moves the
    router to the first step; Prometheus is not there, so it holds; an abort rolls back."""
    env = clean_env(settings.home, BATON_DB_URL=settings.database_url, BATON_USER="sam",
                    BATON_PROMETHEUS_URL=f"http://127.0.0.1:{free_port()}")  # fmt: skip
    compose.stop("baseline", "canary")
    state = compose.state
    r = baton(env, "canary", "start", "toy", "--to", "2", "--target", "compose", "--profile",
              "test", "--router-url", compose.url("router"), "--admin-token-file",
              compose.secrets["router_token"], "--apply", f"{HOOK} {state} up baseline canary",
              "--retire", f"{HOOK} {state} stop", "--why", "release 2")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert "started rollout #1 of toy (1 -> 2)" in r.stdout
    admin = RouterAdmin(compose.url("router"), TOKEN)
    _until(lambda: admin.weights().weights["canary"] == 10.0, "the first step's weights")
    assert LocalCompose.load(state).running() == {"baton", "baseline", "canary", "router"}
    r = baton(env, "canary", "abort", "toy", "--why", "enough")
    assert r.returncode == 0, r.stdout + r.stderr
    canaries = Canaries(world.store.engine, world.store.registry)
    _until(lambda: not canaries.rollouts.get(1).active, "the rollback")
    _until(lambda: LocalCompose.load(state).running() == {"baton", "router"}, "the retire hook")
    assert canaries.rollouts.get(1).phase is Phase.ABORTED
    applied = admin.weights()
    assert applied.weights == {"stable": 100.0, "baseline": 0.0, "canary": 0.0}
    assert applied.upstreams["stable"] == compose.url("baton")
    admin.close()


def _until(check: Callable[[], bool], what: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"no {what} within {timeout_s:g} s"
        time.sleep(0.2)
