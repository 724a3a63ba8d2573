"""The canary loop against KServe, offline: each step's InferenceService is rendered with
its ``spec.canary`` traffic, checked against the CRD schema and the webhook's rules, and
handed to the apply hook (numbered files for GitOps, or a command's stdin); promotion
names the canary's version as the predictor, a rollback drops the canary entries, and a
controller that died mid-step is resumed by the next one. The judge is scripted: no
KServe (nor its Prometheus) runs here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from baton.config import Settings
from baton.core.canary_steps import Judgement
from baton.core.rollout_records import Holder, Phase, RolloutRecord, RolloutSpec, RolloutTarget
from baton.deploy.check import kserve_problems
from baton.errors import BadInput, Unavailable
from baton.rollout.controller import Controller, Timing
from baton.rollout.kserve_traffic import Hook, KServeOptions, KServeTraffic, gather_specs
from baton.store.canaries import Canaries
from baton.store.renders import list_renders
from baton.store.store import Store, open_store
from tests.ownership_factory import World
from tests.rollout.canary_world import Scripted, canary_world, passing

SPEC = RolloutSpec(steps=(5, 10, 25, 50), interval_s=0.2)
FAST = Timing(poll_s=0.02, settle_s=0.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    settings = Settings(home=tmp_path / "home", db_url=f"sqlite:///{tmp_path / 'b.db'}",
                        user="tester")  # fmt: skip
    s = open_store(settings)
    yield s
    s.close()


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return canary_world(store, tmp_path)


def start(world: World) -> tuple[Canaries, RolloutRecord]:
    canaries = Canaries(world.store.engine, world.store.registry)
    rollout = canaries.start("toy", 2, world.people["sam"], "release 2", spec=SPEC,
                             target=RolloutTarget.KSERVE)  # fmt: skip
    return canaries, rollout


def run(world: World, rollout: RolloutRecord, plan: list[Judgement], hook: Hook) -> RolloutRecord:
    canaries = Canaries(world.store.engine, world.store.registry)
    options = KServeOptions(namespace="ml", storage_uri="s3://models/toy/v1")
    traffic = KServeTraffic(world.store, "controller", gather_specs(world.store, rollout, options),
                            hook)  # fmt: skip
    controller = Controller(canaries, rollout.id, Holder(os.getpid(), "test"), Scripted(plan),
                            traffic, FAST)  # fmt: skip
    return controller.run()


def applied(folder: Path) -> list[dict[str, Any]]:
    docs = [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]
    for doc in docs:
        assert kserve_problems(doc) == []
    return docs


def traffic(doc: dict[str, Any]) -> tuple[str, list[tuple[str, int, str]]]:
    """The stable predictor's name and each canary entry's (name, percent, track)."""
    spec = doc["spec"]
    return spec["predictor"]["name"], [
        (c["predictor"]["name"], c["trafficPercent"], c["predictor"]["labels"]["baton.dev/track"])
        for c in spec.get("canary", [])
    ]


def test_every_step_then_promotion(world: World, tmp_path: Path) -> None:
    _, rollout = start(world)
    gitops = tmp_path / "gitops"
    done = run(world, rollout, list(passing(4)), Hook(folder=gitops))
    assert done.phase is Phase.SUCCEEDED
    docs = applied(gitops)
    assert sorted(p.name for p in gitops.glob("*.yaml"))[-1] == "0005-toy-promoted.yaml"
    assert [traffic(d) for d in docs] == [
        ("v1", [("v2", p, "canary"), ("v1-baseline", p, "baseline")]) for p in (5, 10, 25, 50)
    ] + [("v2", [])]
    step = docs[0]["spec"]
    assert step["predictor"]["model"]["storageUri"] == "s3://models/toy/v1"
    canary_uri = step["canary"][0]["predictor"]["model"]["storageUri"]
    assert canary_uri.startswith("s3://models/toy/") and canary_uri != "s3://models/toy/v1"
    assert step["canary"][1]["predictor"]["model"]["storageUri"] == "s3://models/toy/v1"
    assert docs[-1]["spec"]["predictor"]["model"]["storageUri"] == canary_uri
    assert docs[0]["metadata"]["namespace"] == "ml"
    assert world.store.registry.model("toy")[0].aliases["production"] == 2
    renders = list_renders(world.store.engine, "toy")
    assert len(renders) == 5 and renders[0].options["what"] == "promoted"
    assert renders[-1].out.endswith("0001-toy-step1-canary5.yaml")


def test_a_failed_interval_then_a_guardrail_rolls_back(world: World, tmp_path: Path) -> None:
    _, rollout = start(world)
    gitops = tmp_path / "gitops"
    plan = [
        *passing(1),
        Judgement("fail", "score 60: latency high", score=60.0, failed_check=True),
        Judgement("rollback", "critical: nonfinite: 3 rows with NaN", score=0.0, failed_check=True),
    ]
    done = run(world, rollout, plan, Hook(folder=gitops))
    assert done.phase is Phase.FAILED and done.failed_checks == 2
    assert done.reason == "critical: nonfinite: 3 rows with NaN"
    assert [traffic(d) for d in applied(gitops)] == [
        ("v1", [("v2", 5, "canary"), ("v1-baseline", 5, "baseline")]),
        ("v1", [("v2", 10, "canary"), ("v1-baseline", 10, "baseline")]),
        ("v1", []),
    ]
    assert world.store.registry.model("toy")[0].aliases["production"] == 1
    assert world.gov.promotions.history("toy")[0].state == "cancelled"


def test_a_failing_hook_stops_the_controller_and_the_next_one_resumes(
    world: World, tmp_path: Path
) -> None:
    _, rollout = start(world)
    with pytest.raises(Unavailable, match="the apply hook `false` failed"):
        run(world, rollout, [], Hook(command="false"))
    stuck = Canaries(world.store.engine, world.store.registry).rollouts.get(rollout.id)
    assert (stuck.phase, stuck.weights.canary, stuck.lease) == (Phase.PROGRESSING, 5, None)
    out = tmp_path / "applied.yaml"
    hook = Hook(command=f"sh -c 'cat >> {out}; echo --- >> {out}'")
    done = run(world, stuck, list(passing(4)), hook)
    assert done.phase is Phase.SUCCEEDED
    docs = [d for d in yaml.safe_load_all(out.read_text()) if d is not None]
    # the resumed controller first applies what the record says (step 1), then goes on
    assert [traffic(d)[1][0][1] if traffic(d)[1] else 100 for d in docs] == [5, 10, 25, 50, 100]


def test_hook_needs_one_destination(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="--apply COMMAND or --apply-dir DIR"):
        Hook()
    with pytest.raises(BadInput, match="--apply COMMAND or --apply-dir DIR"):
        Hook(command="kubectl apply -f -", folder=tmp_path)
    with pytest.raises(BadInput, match="the command is empty"):
        Hook(command="  ")
