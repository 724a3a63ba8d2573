"""A store ready for a canary: teams and people (``tests/ownership_factory.py``), model
``toy`` with @production at 1 and a promotion of 2 through a canary, approved."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baton.core.canary_steps import Judgement
from baton.core.promotion import Target
from baton.core.rollout_records import RolloutRecord
from baton.store.store import Store
from tests.ownership_factory import World, build_world


def ship(world: World, version: int, via: str | None = None, model: str = "toy") -> None:
    """candidate -> staging -> production with the default matrix's approvals."""
    p, who = world.gov.promotions, world.people
    world.evaluate(version, model=model)
    p.promote(model, version, Target.STAGING, who["alice"], "ready")
    p.approve(model, version, Target.STAGING, who["bob"], "quality checked")
    p.promote(model, version, Target.PRODUCTION, who["sam"], "release", via=via)
    p.approve(model, version, Target.PRODUCTION, who["bob"], "quality ok")
    p.approve(model, version, Target.PRODUCTION, who["sue"], "capacity ok")


def canary_world(store: Store, folder: Path, versions: int = 2) -> World:
    """@production -> 1, and version 2 approved for production through a canary."""
    world = build_world(store, folder, versions=versions)
    ship(world, 1)
    ship(world, 2, via="canary")
    return world


@dataclass
class Scripted:
    """A judge that says what the test planned, interval after interval (for targets whose
    Prometheus does not run here: KServe's). It keeps the windows it was asked about."""

    plan: Sequence[Judgement]
    asked: list[tuple[int, float, float]] = field(default_factory=list)

    def ready(self, rollout: RolloutRecord) -> bool:
        return True

    def judge(self, rollout: RolloutRecord, start: float, end: float) -> Judgement:
        self.asked.append((rollout.step, start, end))
        if len(self.asked) > len(self.plan):
            raise AssertionError(f"the judge was asked {len(self.asked)} times, planned for "
                                 f"{len(self.plan)}")  # fmt: skip
        return self.plan[len(self.asked) - 1]


def passing(n: int) -> Iterator[Judgement]:
    for _ in range(n):
        yield Judgement("advance", "score 100: every metric passed", score=100.0)
