"""A canary and its promotion together, on SQLite and PostgreSQL: a promotion through a
canary waits after its last approval, the canary's start marks it applying, its last step
moves @production through the record and a rollback cancels it with the reasons; who may
start and steer a canary; refusals are audited."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.canary_roles import CanaryAction
from baton.core.promotion import Target
from baton.core.roles import NotPermitted
from baton.core.rollout_records import Change, Phase, RolloutRecord, RolloutSpec, Weights
from baton.errors import BadInput, Conflict, NotFound
from baton.store.canaries import Canaries
from baton.store.history import model_history
from baton.store.rollouts import Expected
from baton.store.store import Store
from tests.ownership_factory import World, build_world

SPEC = RolloutSpec(steps=(10, 50), interval_s=2)


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


@pytest.fixture
def canaries(store: Store) -> Canaries:
    return Canaries(store.engine, store.registry)


def stage(world: World, version: int) -> None:
    p, who = world.gov.promotions, world.people
    world.evaluate(version)
    p.promote("toy", version, Target.STAGING, who["alice"], "ready")
    p.approve("toy", version, Target.STAGING, who["bob"], "quality checked")


def ship(world: World, version: int, via: str | None = None) -> None:
    """To production with both accountable teams' approvals (``via``: through a canary)."""
    p, who = world.gov.promotions, world.people
    stage(world, version)
    p.promote("toy", version, Target.PRODUCTION, who["sam"], "release", via=via)
    p.approve("toy", version, Target.PRODUCTION, who["bob"], "quality ok")
    p.approve("toy", version, Target.PRODUCTION, who["sue"], "capacity ok")


def production(world: World) -> int | None:
    return world.store.registry.model("toy")[0].aliases.get("production")


def test_a_canary_promotion_waits_after_its_approvals(world: World, canaries: Canaries) -> None:
    ship(world, 1)
    ship(world, 2, via="canary")
    assert production(world) == 1  # the last approval did not move it
    promo = world.gov.promotions.history("toy")[0]
    assert (promo.state, promo.via, promo.missing, promo.from_version) == (
        "approved", "canary", {}, 1,
    )  # fmt: skip
    assert world.actions()[0] == "promotion.approved"
    with pytest.raises(Conflict, match="has every approval and waits for its canary"):
        world.gov.promotions.approve("toy", 2, Target.PRODUCTION, world.people["sue"], "again")
    with pytest.raises(Conflict, match="toy:2 is already waiting to go to production"):
        world.gov.promotions.promote("toy", 2, Target.PRODUCTION, world.people["sam"], "x")

    rollout = canaries.start("toy", 2, world.people["sam"], "release 2", spec=SPEC)
    assert (rollout.from_version, rollout.to_version, rollout.baseline_version) == (1, 2, 1)
    assert rollout.promotion_id == promo.id and rollout.phase is Phase.INITIALIZING
    assert world.gov.promotions.history("toy")[0].state == "applying"
    assert world.actions()[:2] == ["rollout.start", "promotion.applying"]
    with pytest.raises(Conflict, match="a canary rollout is applying promotion"):
        world.gov.promotions.cancel("toy", 2, Target.PRODUCTION, world.people["sam"], "stop")

    promoting = canaries.rollouts.update(
        rollout.id, _to(Phase.PROGRESSING), expected=_at(rollout), actor="controller"
    )
    promoting = canaries.rollouts.update(
        rollout.id, _to(Phase.PROMOTING), expected=_at(promoting), actor="controller"
    )
    done = canaries.promoted(promoting, "controller", None, "every step passed")
    assert done.phase is Phase.SUCCEEDED and done.weights == Weights(stable=0, canary=100)
    assert production(world) == 2
    applied = world.gov.promotions.history("toy")[0]
    assert (applied.state, applied.decided_by) == ("applied", "controller")
    assert world.actions()[:3] == ["promotion.apply", "alias.set", "rollout.update"]
    served = model_history(world.store.engine, "toy").served
    prod = next(a for a in served.aliases if a.alias == "production")
    assert (prod.version, prod.rollout) == (2, rollout.id)


def test_a_rollback_cancels_the_promotion_with_its_reasons(
    world: World, canaries: Canaries
) -> None:
    ship(world, 1)
    ship(world, 2, via="canary")
    rollout = canaries.start("toy", 2, world.people["sam"], "release 2", spec=SPEC)
    back = canaries.rollouts.update(
        rollout.id, _to(Phase.ROLLING_BACK), expected=_at(rollout), actor="controller"
    )
    done = canaries.rolled_back(back, Phase.FAILED, "controller", None, "errors high: 5xx 9 %")
    assert done.phase is Phase.FAILED and done.weights == Weights(stable=100)
    assert done.reason == "errors high: 5xx 9 %"
    assert production(world) == 1
    cancelled = world.gov.promotions.history("toy")[0]
    assert (cancelled.state, cancelled.decided_by) == ("cancelled", "controller")
    entry = world.store.registry.log_entries("toy", limit=1)[0]
    assert (entry.action, entry.reason) == ("promotion.cancel", "errors high: 5xx 9 %")
    # the slot is free: the version may be asked for again
    world.gov.promotions.promote("toy", 2, Target.PRODUCTION, world.people["sam"], "retry")
    with pytest.raises(BadInput, match="a rollback ends failed or aborted"):
        canaries.rolled_back(done, Phase.SUCCEEDED, "controller", None, "x")


def test_start_needs_an_approved_canary_promotion(world: World, canaries: Canaries) -> None:
    sam = world.people["sam"]
    ship(world, 1)
    stage(world, 2)
    with pytest.raises(NotFound, match="nothing approved waits to move toy:2 to production"):
        canaries.start("toy", 2, sam, "go", spec=SPEC)
    direct = world.gov.promotions.promote("toy", 2, Target.PRODUCTION, sam, "direct")
    with pytest.raises(Conflict, match=f"promotion #{direct.id} of toy:2 is applied at its last"):
        canaries.start("toy", 2, sam, "go", spec=SPEC)
    world.gov.promotions.cancel("toy", 2, Target.PRODUCTION, sam, "via canary instead")
    world.gov.promotions.promote("toy", 2, Target.PRODUCTION, sam, "canary", via="canary")
    with pytest.raises(Conflict, match=r"still waits for approval from team research \(evaluation"):
        canaries.start("toy", 2, sam, "go", spec=SPEC)
    with pytest.raises(Conflict, match="not toy:3"):
        canaries.start("toy", 3, sam, "go", spec=SPEC)
    with pytest.raises(BadInput, match="a step can give the canary 50 % at most"):
        canaries.start("toy", 2, sam, "go", spec=RolloutSpec(steps=(10, 60)))
    assert world.actions()[0] == "canary.start.refused"


def test_via_canary_is_for_production_only(world: World) -> None:
    world.evaluate(1)
    with pytest.raises(BadInput, match="a canary applies production promotions only"):
        world.gov.promotions.promote(
            "toy", 1, Target.STAGING, world.people["alice"], "x", via="canary"
        )
    with pytest.raises(BadInput, match="unknown way to apply a promotion 'slowly'"):
        world.gov.promotions.promote(
            "toy", 1, Target.STAGING, world.people["alice"], "x", via="slowly"
        )


def test_who_may_start_and_steer(world: World, canaries: Canaries) -> None:
    ship(world, 1)
    ship(world, 2, via="canary")
    who = r"only team serving \(RA on deployment, RA on on-call\) may start a canary \(R or A of "
    with pytest.raises(NotPermitted, match=who + r"deployment\); your teams: research"):
        canaries.start("toy", 2, world.people["alice"], "go", spec=SPEC)
    rollout = canaries.start("toy", 2, world.people["sue"], "go", spec=SPEC)
    with pytest.raises(NotPermitted, match="may pause a canary"):
        canaries.steer("toy", CanaryAction.PAUSE, world.people["mia"], "marketing")
    paused = canaries.steer("toy", CanaryAction.PAUSE, world.people["sam"], "looking at it")
    assert paused.phase is Phase.PAUSED and paused.id == rollout.id
    with pytest.raises(Conflict, match="is paused: it cannot be asked to pause now"):
        canaries.steer("toy", CanaryAction.PAUSE, world.people["sam"], "again")
    resumed = canaries.steer("toy", CanaryAction.RESUME, world.people["sue"], "fine")
    assert resumed.phase is Phase.PROGRESSING
    with pytest.raises(NotPermitted, match="may promote a canary"):
        canaries.steer("toy", CanaryAction.PROMOTE, world.people["bob"], "ship it")
    promoting = canaries.steer("toy", CanaryAction.PROMOTE, world.people["sam"], "ship it")
    assert promoting.phase is Phase.PROMOTING
    log = world.actions()
    # the role refusal and the phase conflict are both on record
    assert log.count("canary.pause.refused") == 2 and log.count("canary.promote.refused") == 1


def test_abort_and_nothing_to_steer(world: World, canaries: Canaries) -> None:
    ship(world, 1)
    with pytest.raises(Conflict, match="toy has no canary in progress: nothing to abort"):
        canaries.steer("toy", CanaryAction.ABORT, world.people["sam"], "stop")
    ship(world, 2, via="canary")
    canaries.start("toy", 2, world.people["sam"], "go", spec=SPEC)
    aborting = canaries.steer("toy", CanaryAction.ABORT, world.people["sue"], "pager says no")
    assert aborting.phase is Phase.ROLLING_BACK
    assert canaries.rollouts.asked("toy", aborting.id, Phase.ROLLING_BACK) == (
        "sue", "pager says no",
    )  # fmt: skip


def _to(phase: Phase) -> Change:
    return Change(phase=phase)


def _at(record: RolloutRecord) -> Expected:
    return Expected.of(record)
