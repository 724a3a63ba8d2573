"""Everything a live canary scenario runs on, all real and on 127.0.0.1: a store with the
test organisation and every version of ``toy`` (``variant_models.py``) registered and
evaluated by the gate, Prometheus scraping every server each second through the target
files servers write (each labelled with its variant), and ``toy`` deployed with
``baton deploy up`` behind its router. Scenarios promote a version through a canary,
start it with ``baton canary start --profile test``, drive load through the router and
wait for the outcome."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from baton.config import Settings
from baton.core.promotion import Target
from baton.core.refs import Ref
from baton.core.rollout_records import DecisionRecord, Phase, RolloutRecord
from baton.evaluate.service import evaluate
from baton.handover.register import register_handover
from baton.rollout.keeper_process import find_keeper
from baton.store.canaries import Canaries
from baton.store.deployments import Deployments
from baton.store.store import Store, open_store
from tests.baton_cli import baton, clean_env, free_port
from tests.monitor.conftest import Running, need
from tests.monitor.conftest import start as start_binary
from tests.ownership_factory import World, build_world
from tests.rollout.load import Load
from tests.rollout.variant_models import write_version

MODEL = "toy"
RATE = 80.0  # requests a second through the router
FINISH_S = 120.0  # the longest a scenario waits for its rollout to end


@dataclass
class Live:
    home: Path
    settings: Settings
    store: Store
    world: World
    env: dict[str, str]
    prometheus: Running
    versions: dict[str, int] = field(default_factory=dict)  # variant -> version number

    @property
    def canaries(self) -> Canaries:
        return Canaries(self.store.engine, self.store.registry)

    def cli(self, *args: str, user: str = "sam") -> subprocess.CompletedProcess[str]:
        done = baton({**self.env, "BATON_USER": user}, *args)
        assert done.returncode == 0, f"baton {' '.join(args)}: {done.stdout}{done.stderr}"
        return done

    def router_url(self) -> str:
        found = Deployments(self.store.engine).active(MODEL)
        assert found is not None
        return found.router.url

    def approve(self, variant: str) -> int:
        """Promote the variant's version to production through a canary, approved."""
        p, who, number = self.world.gov.promotions, self.world.people, self.versions[variant]
        p.promote(MODEL, number, Target.STAGING, who["alice"], "ready")
        p.approve(MODEL, number, Target.STAGING, who["bob"], "quality checked")
        p.promote(MODEL, number, Target.PRODUCTION, who["sam"], f"release {variant}",
                  via="canary")  # fmt: skip
        p.approve(MODEL, number, Target.PRODUCTION, who["bob"], "quality ok")
        p.approve(MODEL, number, Target.PRODUCTION, who["sue"], "capacity ok")
        return number

    def start(self, variant: str, *extra: str) -> RolloutRecord:
        number = self.approve(variant)
        self.cli("canary", "start", MODEL, "--to", str(number), "--profile", "test",
                 "--why", f"roll out {variant}", *extra)  # fmt: skip
        rollout = self.canaries.rollouts.active(MODEL)
        assert rollout is not None and rollout.to_version == number
        return rollout

    def wait(
        self, rollout: RolloutRecord, *phases: Phase, timeout: float = FINISH_S
    ) -> RolloutRecord:
        deadline = time.monotonic() + timeout
        while True:
            current = self.canaries.rollouts.get(rollout.id)
            if current.phase in phases:
                return current
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{current.summary()} is {current.phase.value} at step {current.step} "
                    f"after {timeout:g} s, not {'/'.join(p.value for p in phases)}; "
                    f"decisions: {[(d.decision.value, d.reason) for d in self.decisions(rollout)]}"
                )
            time.sleep(0.2)

    def decisions(self, rollout: RolloutRecord) -> list[DecisionRecord]:
        return self.canaries.rollouts.decisions(rollout.id)

    def load(self, seconds: float = 90.0, seed: int = 0) -> Load:
        return Load(self.router_url(), MODEL, RATE, seconds, seed)

    def production(self) -> int | None:
        return self.store.registry.model(MODEL)[0].aliases.get("production")

    def audit(self, action: str) -> list[str]:
        """The reasons of the model's audit entries of ``action``, oldest first."""
        found = self.store.registry.log_entries(MODEL, limit=2000)
        return [e.reason or "" for e in reversed(found) if e.action == action]


def _prometheus(home: Path, workdir: Path) -> Running:
    """Prometheus scraping every server baton lists under BATON_HOME each second."""
    binary = need("prometheus")
    targets = home / "monitor" / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{
            "job_name": "baton",
            "file_sd_configs": [{"files": [str(targets / "*.json")], "refresh_interval": "1s"}],
        }],
    }  # fmt: skip
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    argv = [str(binary), f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn"]  # fmt: skip
    return start_binary("prometheus", argv, port, "/-/ready", workdir)


def _register(store: Store, folder: Path, variants: list[str]) -> dict[str, int]:
    """Every variant registered and through the gate (before any production version, so
    each is judged on its own)."""
    numbers = {}
    for variant in variants:
        built = write_version(folder / variant, variant.split("-")[0], tag=variant)
        info = register_handover(store, built, actor="alice").version
        record = evaluate(store, Ref(MODEL, version=info.number), actor="gate", mode="quick")
        assert record.status == "passed", record
        numbers[variant] = info.number
    return numbers


@pytest.fixture(scope="module", name="live")
def live_fixture(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Live]:
    """The store, Prometheus and ``toy`` deployed at its stable version; the variants the
    module names in ``VARIANTS`` registered and evaluated."""
    root = tmp_path_factory.mktemp("canary")
    home = root / "home"
    db = f"sqlite:///{root / 'baton.db'}"
    settings = Settings(home=home, db_url=db, user="sam")
    store = open_store(settings)
    world = build_world(store, root / "org", versions=0)
    variants = ["stable", *getattr(request.module, "VARIANTS", [])]
    versions = _register(store, root / "versions", variants)
    for target in (Target.STAGING, Target.PRODUCTION):  # the first production version
        p, who = world.gov.promotions, world.people
        p.promote(MODEL, versions["stable"], target, who["sam"], "first release")
        p.approve(MODEL, versions["stable"], target, who["bob"], "quality ok")
        if target is Target.PRODUCTION:
            p.approve(MODEL, versions["stable"], target, who["sue"], "capacity ok")
    prometheus = _prometheus(home, root / "prometheus")
    env = clean_env(home, BATON_DB_URL=db, BATON_USER="sam",
                    BATON_PROMETHEUS_URL=prometheus.url)  # fmt: skip
    live = Live(home, settings, store, world, env, prometheus, versions)
    try:
        live.cli("deploy", "up", MODEL, "--why", "canary tests")
        yield live
    finally:
        _tear_down(live)


def _tear_down(live: Live) -> None:
    """Abort what still runs, take the deployment down, stop Prometheus; kill leftovers."""
    rollout = live.canaries.rollouts.active(MODEL)
    if rollout is not None:
        baton(live.env, "canary", "abort", MODEL, "--why", "test over")
        with contextlib.suppress(AssertionError):
            live.wait(rollout, Phase.ABORTED, Phase.FAILED, Phase.SUCCEEDED, timeout=60)
    deployment = Deployments(live.store.engine).active(MODEL)
    if deployment is not None:
        done = baton(live.env, "deploy", "down", MODEL, "--drain-timeout", "5")
        if done.returncode != 0:  # whatever happened, leave no process behind
            keeper = find_keeper(live.settings, MODEL)
            if keeper is not None and keeper.running():  # first: it would restart the router
                os.kill(keeper.pid, signal.SIGKILL)
            deployment = Deployments(live.store.engine).get(deployment.id)
            for p in (deployment.router, *deployment.processes.servers):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
    live.prometheus.stop()
    live.store.close()
