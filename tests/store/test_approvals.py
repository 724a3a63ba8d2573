"""Promotion, approval, cancellation, archive and rollback on SQLite and PostgreSQL.

Every allowed and forbidden step is tried, and the audit log is checked for each attempt.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from baton.config import Settings
from baton.core.promotion import Target
from baton.core.roles import NotPermitted
from baton.errors import BadInput, Conflict, FailedCheck, Forbidden, NotFound
from baton.store.governance import Governance
from baton.store.store import Store, open_store
from tests.ownership_factory import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


def ship(world: World, version: int) -> None:
    """candidate -> staging -> production with the approvals the default matrix asks for."""
    p, who = world.gov.promotions, world.people
    world.evaluate(version)
    p.promote("toy", version, Target.STAGING, who["alice"], "ready")
    p.approve("toy", version, Target.STAGING, who["bob"], "quality checked")
    p.promote("toy", version, Target.PRODUCTION, who["sam"], "release")
    p.approve("toy", version, Target.PRODUCTION, who["bob"], "quality ok")
    p.approve("toy", version, Target.PRODUCTION, who["sue"], "capacity ok")


def test_staging_needs_an_evaluation_then_another_researchers_approval(world: World) -> None:
    p, who = world.gov.promotions, world.people
    with pytest.raises(FailedCheck, match="evaluate it first with `baton evaluate toy:1`"):
        p.promote("toy", 1, Target.STAGING, who["alice"], "ready")
    world.evaluate(1)
    with pytest.raises(NotPermitted) as refused:
        p.promote("toy", 1, Target.STAGING, who["mia"], "marketing wants it")
    assert set(refused.value.who_can) == {"research", "serving"}

    pending = p.promote("toy", 1, Target.STAGING, who["alice"], "ready")
    assert (pending.state, pending.missing) == ("pending", {"evaluation": "research"})
    with pytest.raises(Forbidden, match="alice asked for this promotion and may not approve"):
        p.approve("toy", 1, Target.STAGING, who["alice"], "lgtm")
    with pytest.raises(NotPermitted, match=r"only team research \(A on evaluation\)"):
        p.approve("toy", 1, Target.STAGING, who["sam"], "lgtm")
    done = p.approve("toy", 1, Target.STAGING, who["bob"], "numbers match")
    assert (done.state, done.missing, done.decided_by) == ("applied", {}, "bob")
    assert [(a.stage, a.team, a.person) for a in done.approvals] == [
        ("evaluation", "research", "bob")
    ]
    assert world.store.registry.model("toy")[0].aliases["staging"] == 1
    log = world.actions()
    assert log[:4] == [
        "promotion.apply",
        "alias.set",
        "promotion.approve",
        "promotion.approve.refused",
    ]
    assert log.count("promotion.request.refused") == 2
    assert log.count("promotion.approve.refused") == 2


def test_production_needs_both_accountable_teams(world: World) -> None:
    p, who = world.gov.promotions, world.people
    world.evaluate(1)
    with pytest.raises(Conflict, match="promote it to staging first"):
        p.promote("toy", 1, Target.PRODUCTION, who["sam"], "go")
    ship(world, 1)
    info, _ = world.store.registry.model("toy")
    assert info.aliases["production"] == 1
    last = p.history("toy")[0]
    assert last.target == "production" and last.state == "applied"
    assert {(a.stage, a.team) for a in last.approvals} == {
        ("evaluation", "research"),
        ("deployment", "serving"),
    }
    with pytest.raises(Conflict, match="already in production"):
        p.promote("toy", 1, Target.PRODUCTION, who["sam"], "again")


def test_failed_evaluation_refuses_and_a_late_failure_stops_the_apply(world: World) -> None:
    p, who = world.gov.promotions, world.people
    world.evaluate(1, "failed")
    with pytest.raises(FailedCheck, match="latest evaluation failed"):
        p.promote("toy", 1, Target.STAGING, who["alice"], "ready")
    world.evaluate(1, "passed")
    p.promote("toy", 1, Target.STAGING, who["alice"], "ready")
    world.evaluate(1, "failed")  # re-run between request and approval
    with pytest.raises(FailedCheck):
        p.approve("toy", 1, Target.STAGING, who["bob"], "lgtm")
    assert "staging" not in world.store.registry.model("toy")[0].aliases
    assert p.history("toy", pending_only=True)[0].approvals == ()  # the approval rolled back


def test_one_pending_step_per_target_and_cancel(world: World) -> None:
    p, who = world.gov.promotions, world.people
    world.evaluate(1)
    world.evaluate(2)
    p.promote("toy", 1, Target.STAGING, who["alice"], "ready")
    with pytest.raises(Conflict, match="toy:1 is already waiting to go to staging"):
        p.promote("toy", 2, Target.STAGING, who["sam"], "mine is better")
    with pytest.raises(Conflict, match="is for toy:1, not toy:2"):
        p.approve("toy", 2, Target.STAGING, who["bob"], "ok")
    with pytest.raises(NotPermitted):
        p.cancel("toy", 1, Target.STAGING, who["mia"], "no")
    cancelled = p.cancel("toy", 1, Target.STAGING, who["sam"], "2 supersedes it")
    assert cancelled.state == "cancelled"
    assert p.promote("toy", 2, Target.STAGING, who["sam"], "now").state == "pending"
    with pytest.raises(Conflict, match="is for toy:2, not toy:1"):
        p.approve("toy", 1, Target.STAGING, who["bob"], "ok")
    with pytest.raises(NotFound, match="nothing is waiting to move toy:1 to production"):
        p.approve("toy", 1, Target.PRODUCTION, who["bob"], "ok")


def test_rollback_walks_back_through_production_history(world: World) -> None:
    p, who = world.gov.promotions, world.people
    with pytest.raises(Conflict, match="no production version"):
        p.rollback("toy", who["sam"], "panic")
    for v in (1, 2, 3):
        ship(world, v)
    with pytest.raises(NotPermitted, match="only team serving"):
        p.rollback("toy", who["alice"], "bad numbers")
    with pytest.raises(BadInput, match="say why"):
        p.rollback("toy", who["sam"], " ")
    assert p.rollback("toy", who["sam"], "latency spike").version == 2
    assert p.rollback("toy", who["sue"], "still bad").version == 1
    with pytest.raises(Conflict, match="no earlier production version"):
        p.rollback("toy", who["sam"], "again")
    assert world.store.registry.model("toy")[0].aliases["production"] == 1
    assert world.actions().count("promotion.rollback") == 2


def test_archive_needs_retirement_approval_and_is_final(world: World) -> None:
    p, who = world.gov.promotions, world.people
    ship(world, 1)
    with pytest.raises(Conflict, match="is serving production"):
        p.promote("toy", 1, Target.ARCHIVED, who["sam"], "old")
    with pytest.raises(NotPermitted):
        p.promote("toy", 2, Target.ARCHIVED, who["mia"], "old")
    p.promote("toy", 2, Target.ARCHIVED, who["sam"], "superseded")
    with pytest.raises(NotPermitted, match=r"only team research \(A on retirement\)"):
        p.approve("toy", 2, Target.ARCHIVED, who["sue"], "ok")
    assert p.approve("toy", 2, Target.ARCHIVED, who["alice"], "ok").state == "applied"
    assert p.archived("toy") == {2}
    world.evaluate(2)
    with pytest.raises(Conflict, match="archived versions are never promoted again"):
        p.promote("toy", 2, Target.STAGING, who["alice"], "revive")


def test_self_approval_when_the_policy_allows_it(world: World) -> None:
    world.gov.roles.set_roles(
        "toy", {"policy": {"self_approval": True}}, world.people["alice"], "team of one"
    )
    world.evaluate(1)
    p = world.gov.promotions
    p.promote("toy", 1, Target.STAGING, world.people["alice"], "ready")
    assert p.approve("toy", 1, Target.STAGING, world.people["alice"], "mine").state == "applied"


def _promote(settings: Settings, version: int, barrier: object, out: object) -> None:
    store = open_store(settings)
    gov = Governance.of(store)
    barrier.wait()  # type: ignore[attr-defined]
    try:
        gov.promotions.promote("toy", version, Target.STAGING, gov.people.person("alice"), "race")
        out.put((version, "ok"))  # type: ignore[attr-defined]
    except Conflict as exc:
        out.put((version, exc.message))  # type: ignore[attr-defined]
    store.close()


def test_concurrent_promotions_one_wins_the_other_is_refused(
    world: World, settings: Settings
) -> None:
    for v in (1, 2, 3):
        world.evaluate(v)
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_promote, args=(settings, v, barrier, out)) for v in (1, 2, 3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    results = dict(out.get(timeout=5) for _ in procs)
    winners = [v for v, r in results.items() if r == "ok"]
    assert len(winners) == 1
    for v, r in results.items():
        if v not in winners:
            assert f"toy:{winners[0]} is already waiting to go to staging" in r
    pending = world.gov.promotions.history("toy", pending_only=True)
    assert [x.version for x in pending] == winners
    log = world.actions()
    assert log.count("promotion.request") == 1
    assert log.count("promotion.request.refused") == 2


def test_concurrent_final_approvals_apply_the_step_exactly_once(world: World) -> None:
    """research and serving approve production at the same moment: no write skew."""
    p, who = world.gov.promotions, world.people
    world.evaluate(1)
    p.promote("toy", 1, Target.STAGING, who["alice"], "ready")
    p.approve("toy", 1, Target.STAGING, who["bob"], "ok")
    p.promote("toy", 1, Target.PRODUCTION, who["sam"], "release")
    barrier = threading.Barrier(2)

    def approve(name: str) -> str:
        barrier.wait()
        return p.approve("toy", 1, Target.PRODUCTION, who[name], "go").state

    with ThreadPoolExecutor(2) as pool:
        states = sorted(pool.map(approve, ["bob", "sue"]))
    assert states == ["applied", "pending"]
    assert world.store.registry.model("toy")[0].aliases["production"] == 1
    log = world.actions()
    assert log.count("promotion.apply") == 2  # staging, then production once
    assert log.count("promotion.approve") == 3
