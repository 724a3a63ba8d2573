"""A model with a real past, for ``baton history`` tests: built through the services only.

toy:1 goes to production with approvals; toy:2 goes through a canary rollout whose last
step is the approved promotion; on-call rolls back to 1; a canary of toy:3 is rolled back
by a guardrail. ``Past.marks`` holds instants between the steps, to ask ``--at`` about.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from baton.core.evaluation import EvaluationReport
from baton.core.promotion import Target
from baton.core.rollout_records import (
    Change,
    Classification,
    Decision,
    Holder,
    MetricResult,
    Phase,
    RolloutSpec,
    Weights,
)
from baton.store.renders import record_render
from baton.store.rollouts import Expected, NewDecision, NewRollout, Rollouts
from baton.store.store import Store
from baton.store.tx import write
from tests.ownership_factory import World, build_world

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@dataclass
class Past:
    world: World
    marks: dict[str, datetime] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.marks[name] = datetime.now(UTC)


def gate(world: World, version: int, status: str = "passed") -> int:
    reasons = ["passed accuracy, latency"] if status == "passed" else ["accuracy: 0.41 < 0.9"]
    report = EvaluationReport.model_validate(
        {"verdict": {"passed": status == "passed", "status": status, "reasons": reasons}}
    )
    record = world.store.evaluations.record(
        "toy", version, status=status, report=report, actor="gate",  # type: ignore[arg-type]
        started_at=datetime.now(UTC),
    )  # fmt: skip
    return record.id


def split(canary: int) -> Weights:
    return Weights(stable=100 - 2 * canary, baseline=canary, canary=canary)


def build_past(store: Store, folder: Path) -> Past:
    before = datetime.now(UTC)
    past = Past(build_world(store, folder), {"before": before})
    _first_release(past)
    past.mark("v1_serving")
    _canary_of_2(past)
    past.mark("v2_serving")
    p, who = past.world.gov.promotions, past.world.people
    past.ids["rollback"] = p.rollback("toy", who["sue"], "p99 doubled after the release").id
    past.mark("rolled_back")
    _failed_canary_of_3(past)
    past.mark("end")
    return past


def _first_release(past: Past) -> None:
    world = past.world
    p, who = world.gov.promotions, world.people
    past.ids["gate1"] = gate(world, 1)
    p.promote("toy", 1, Target.STAGING, who["alice"], "ready for staging")
    p.approve("toy", 1, Target.STAGING, who["bob"], "numbers match the claim")
    past.ids["release1"] = p.promote("toy", 1, Target.PRODUCTION, who["sam"], "first release").id
    p.approve("toy", 1, Target.PRODUCTION, who["bob"], "quality ok")
    p.approve("toy", 1, Target.PRODUCTION, who["sue"], "capacity ok")
    write(world.store.engine, lambda conn: record_render(
        conn, actor="sam", model="toy", version=1, targets=["k8s"], out="/srv/deploy/toy-1",
        manifest_sha256="ab" * 32, forced=False, options={}, reason="for the cluster",
    ))  # fmt: skip


def _canary_of_2(past: Past) -> None:
    """toy:2's production promotion is applied by a rollout's last step (as the canary
    controller will): request it, run the steps, then the final approval moves the alias."""
    world = past.world
    p, who = world.gov.promotions, world.people
    past.ids["gate2"] = gate(world, 2)
    p.promote("toy", 2, Target.STAGING, who["alice"], "better recall")
    p.approve("toy", 2, Target.STAGING, who["bob"], "checked")
    promo = p.promote("toy", 2, Target.PRODUCTION, who["sam"], "release 2 by canary")
    past.ids["release2"] = promo.id
    repo = Rollouts(world.store.engine)
    r = repo.start(NewRollout("toy", 1, 2, baseline_version=1, promotion_id=promo.id,
                              spec=RolloutSpec(steps=(10, 25), interval_s=2)), "sam",
                   "release 2 by canary")  # fmt: skip
    past.ids["rollout2"] = r.id
    r = repo.update(r.id, Change(phase=Phase.PROGRESSING, weights=split(10)),
                    expected=Expected.of(r), actor="controller")  # fmt: skip
    good = {"errors": MetricResult(classification=Classification.PASS, critical=True,
                                   canary=0.0, baseline=0.0, n_canary=240, n_baseline=236),
            "latency": MetricResult(classification=Classification.PASS, effect=0.0001,
                                    ci_low=-0.0002, ci_high=0.0003, n_canary=240,
                                    n_baseline=236)}  # fmt: skip
    repo.record_decision(r.id, NewDecision(0, split(10), 100.0, Decision.ADVANCE,
                         "every metric passed", good), expected=Expected.of(r),
                         actor="controller", change=Change(step=1, weights=split(25)))  # fmt: skip
    r = repo.get(r.id)
    past.mark("mid_rollout")
    repo.record_decision(r.id, NewDecision(1, split(25), 100.0, Decision.PROMOTE,
                         "last step passed", good), expected=Expected.of(r),
                         actor="controller", change=Change(phase=Phase.PROMOTING, step=2,
                         weights=Weights(stable=0, canary=100)))  # fmt: skip
    r = repo.get(r.id)
    p.approve("toy", 2, Target.PRODUCTION, who["bob"], "quality ok")
    p.approve("toy", 2, Target.PRODUCTION, who["sue"], "canary passed")
    repo.update(r.id, Change(phase=Phase.SUCCEEDED), expected=Expected.of(r),
                actor="controller", reason="promoted through every step")  # fmt: skip


def _failed_canary_of_3(past: Past) -> None:
    world = past.world
    past.ids["gate3"] = gate(world, 3)
    repo = Rollouts(world.store.engine)
    r = repo.start(NewRollout("toy", 1, 3, baseline_version=1), "sam", "try 3")
    past.ids["rollout3"] = r.id
    r = repo.update(r.id, Change(phase=Phase.PROGRESSING, weights=split(5)),
                    expected=Expected.of(r), actor="controller")  # fmt: skip
    nan = {"nonfinite": MetricResult(classification=Classification.HIGH, critical=True,
                                     canary=12, baseline=0,
                                     message="NaN in 12 outputs")}  # fmt: skip
    repo.record_decision(r.id, NewDecision(0, split(5), 0.0, Decision.ROLLBACK,
                         "guardrail: non-finite outputs", nan), expected=Expected.of(r),
                         actor="controller", change=Change(phase=Phase.ROLLING_BACK,
                         weights=Weights(stable=100)))  # fmt: skip
    r = repo.get(r.id)
    repo.update(r.id, Change(phase=Phase.FAILED), expected=Expected.of(r), actor="controller",
                reason="guardrail: non-finite outputs")  # fmt: skip


def seed_rollouts(store: Store, model: str = "toy") -> None:
    """Two canaries of ``model`` through the store, as the controller records them: 1 -> 3
    rolled back by a guardrail, then 1 -> 2 in progress at its second step (started with
    hostile text as its reason), held by a lease of this process so no action spawns a
    controller."""
    repo = Rollouts(store.engine)
    failed = repo.start(NewRollout(model, 1, 3, baseline_version=1), "sam", "try 3")
    failed = repo.update(failed.id, Change(phase=Phase.PROGRESSING, weights=split(5)),
                         expected=Expected.of(failed), actor="controller")  # fmt: skip
    nan = {
        "nonfinite": MetricResult(
            classification=Classification.HIGH,
            critical=True,
            canary=12,
            baseline=0,
            message="NaN in 12 outputs",
        )
    }
    repo.record_decision(failed.id, NewDecision(0, split(5), 0.0, Decision.ROLLBACK,
                         "guardrail: non-finite outputs", nan), expected=Expected.of(failed),
                         actor="controller", change=Change(phase=Phase.ROLLING_BACK,
                         weights=Weights(stable=100)))  # fmt: skip
    failed = repo.get(failed.id)
    repo.update(failed.id, Change(phase=Phase.FAILED), expected=Expected.of(failed),
                actor="controller", reason="guardrail: non-finite outputs")  # fmt: skip
    live = repo.start(NewRollout(model, 1, 2, baseline_version=1), "sam",
                      f"release 2 {HOSTILE}")  # fmt: skip
    live = repo.update(live.id, Change(phase=Phase.PROGRESSING, weights=split(5)),
                       expected=Expected.of(live), actor="controller")  # fmt: skip
    good = {
        "errors": MetricResult(classification=Classification.PASS, critical=True, canary=0.002,
                               baseline=0.003, n_canary=240, n_baseline=236, p_value=0.71),
        "latency": MetricResult(classification=Classification.PASS, statistic=27840.0,
                                p_value=0.42, effect=0.0001, ci_low=-0.0002, ci_high=0.0003,
                                n_canary=240, n_baseline=236, message=f"shift {HOSTILE}"),
    }  # fmt: skip
    repo.record_decision(live.id, NewDecision(0, split(5), 97.5, Decision.ADVANCE,
                         "every metric passed", good), expected=Expected.of(live),
                         actor="controller", change=Change(step=1, weights=split(10)))  # fmt: skip
    repo.claim(live.id, Holder(os.getpid(), socket.gethostname()), ttl_s=3600)
