"""Ownership services on real SQLite and PostgreSQL: roles, promotion, approvals, requests.

Every allowed and forbidden step is tried by a person in each kind of team, and the audit
log is checked for the attempt, whether it went through or was refused.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import re
from pathlib import Path

import pytest

from baton.config import Settings
from baton.core.promotion import Target
from baton.core.roles import NotPermitted, RequestKind, Stage
from baton.errors import BadInput, Conflict, FailedCheck, Forbidden, NotFound, Unauthorized
from baton.store.governance import Governance
from baton.store.store import Store, open_store
from tests.ownership_factory import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


def actions(world: World) -> list[str]:
    return [e.action for e in world.store.registry.audit("toy", limit=1000)]


def ship(world: World, version: int) -> None:
    """candidate -> staging -> production with the approvals the default matrix asks for."""
    p, who = world.gov.promotions, world.people
    world.evaluate(version)
    p.promote("toy", version, Target.STAGING, who["alice"], "ready")
    p.approve("toy", version, Target.STAGING, who["bob"], "quality checked")
    p.promote("toy", version, Target.PRODUCTION, who["sam"], "release")
    p.approve("toy", version, Target.PRODUCTION, who["bob"], "quality ok")
    p.approve("toy", version, Target.PRODUCTION, who["sue"], "capacity ok")


# -- roles ----------------------------------------------------------------------------------


def test_default_owners_name_the_model_owner_and_serving(world: World) -> None:
    owners = world.gov.roles.owners("toy")
    assert owners.source == "built-in"
    doc = owners.document()
    assert doc["stages"]["evaluation"] == {"research": "A", "serving": "R"}
    assert doc["stages"]["deployment"] == {"serving": "RA", "research": "I"}
    assert owners.missing_teams == ()


def test_roles_yaml_is_set_by_the_owner_team_and_refused_to_others(world: World) -> None:
    roles, who = world.gov.roles, world.people
    doc = {"stages": {"on-call": {"research": "RA", "serving": "C"}}}
    with pytest.raises(NotPermitted) as refused:
        roles.set_roles("toy", doc, who["sam"], "we are tired")
    assert refused.value.who_can == ("research",)
    assert "only team research (RA on hand-over)" in refused.value.message
    owners = roles.set_roles("toy", doc, who["alice"], "research carries the pager")
    assert owners.source == "model"
    assert owners.matrix.accountable(Stage.ONCALL) == "research"
    assert owners.document()["stages"]["on-call"] == {"research": "RA", "serving": "C"}
    assert actions(world)[:2] == ["roles.set", "roles.set.refused"]


@pytest.mark.parametrize(
    ("doc", "msg"),
    [
        ({"stages": {"deployment": {"ghosts": "RA"}}}, "unknown team(s) ghosts"),
        ({"stages": {"deployment": {"serving": "R"}}}, "exactly one accountable"),
        ({"stages": {"deploy": {"serving": "RA"}}}, "unknown stage 'deploy'"),
        ({"stages": {"deployment": {"serving": "RX"}}}, "not made of R, A, C, I"),
        ({"policy": {"self_approval": "yes"}}, "must be true or false"),
    ],
)
def test_bad_roles_are_refused_and_nothing_changes(world: World, doc: object, msg: str) -> None:
    with pytest.raises(BadInput, match=re.escape(msg)):
        world.gov.roles.set_roles("toy", doc, world.people["alice"], "try")
    assert world.gov.roles.owners("toy").source == "built-in"


def test_site_roles_are_admin_only_and_apply_to_every_model(world: World) -> None:
    doc = {"stages": {"deployment": {"research": "RA"}}}
    with pytest.raises(Forbidden, match="only an admin"):
        world.gov.roles.set_roles(None, doc, world.people["alice"], "take over")
    world.gov.roles.set_roles(None, doc, world.people["root"], "research deploys")
    owners = world.gov.roles.owners("toy")
    assert owners.source == "site"
    assert owners.matrix.accountable(Stage.DEPLOYMENT) == "research"


# -- promotion ------------------------------------------------------------------------------


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
    log = actions(world)
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
    assert actions(world).count("promotion.rollback") == 2


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
    log = actions(world)
    assert log.count("promotion.request") == 1
    assert log.count("promotion.request.refused") == 2


# -- requests -------------------------------------------------------------------------------


def test_requests_go_to_the_responsible_team_and_wrong_desks_delegate(world: World) -> None:
    r, who = world.gov.requests, world.people
    scale = r.raise_request("toy", RequestKind.SCALE, "p99 doubles at noon", who["mia"], "research")
    assert (scale.team, scale.delegated, scale.raised_with) == ("serving", True, "research")
    incident = r.raise_request("toy", RequestKind.INCIDENT, "5xx", who["mia"], "serving")
    assert (incident.team, incident.delegated) == ("serving", False)
    retrain = r.raise_request("toy", RequestKind.RETRAIN, "November data", who["sam"])
    assert (retrain.team, retrain.delegated, retrain.stage) == ("research", False, "hand-over")
    with pytest.raises(NotFound, match="unknown team 'ghosts'"):
        r.raise_request("toy", RequestKind.SCALE, "x", who["mia"], "ghosts")
    with pytest.raises(NotPermitted, match="assigned to team serving"):
        r.close(scale.id, who["alice"], "not ours")
    closed = r.close(scale.id, who["sam"], "added a replica")
    assert (closed.state, closed.closed_by) == ("closed", "sam")
    with pytest.raises(Conflict, match="already closed"):
        r.close(scale.id, who["sam"], "again")
    assert [x.id for x in r.list(team="serving", state="open")] == [incident.id]
    assert [x.id for x in r.list(team="research")] == [retrain.id]
    log = actions(world)
    assert log.count("request.open") == 3 and log.count("request.close.refused") == 2


# -- people and tokens ----------------------------------------------------------------------


def test_tokens_authenticate_until_revoked_and_never_reach_the_log(world: World) -> None:
    people = world.gov.people
    token = world.tokens["alice"]
    assert people.authenticate(token).teams == ("research",)
    for bad in ("", "bt_", "nope", token[:-1] + ("A" if token[-1] != "A" else "B"), "bt_x_y"):
        with pytest.raises(Unauthorized, match="not valid"):
            people.authenticate(bad)
    public_id = token.split("_")[1]
    with pytest.raises(Forbidden, match="only an admin"):
        people.revoke_token(world.tokens["root"].split("_")[1], world.people["alice"])
    people.revoke_token(public_id, world.people["alice"], "laptop lost")
    with pytest.raises(Unauthorized, match="was revoked"):
        people.authenticate(token)
    fresh = people.issue_token("alice", world.people["root"])
    assert people.authenticate(fresh.token).name == "alice"
    everything = json.dumps([e.detail for e in world.store.registry.audit(limit=10_000)])
    for secret in [*world.tokens.values(), fresh.token]:
        assert secret not in everything
        assert secret.split("_", 2)[2] not in everything


def test_people_management_refusals(world: World) -> None:
    people, who = world.gov.people, world.people
    with pytest.raises(NotFound, match="unknown team 'ghosts'"):
        people.add_person("zed", ["ghosts"], who["root"])
    with pytest.raises(Forbidden, match="alice is not an admin"):
        people.add_person("zed", ["research"], who["alice"])
    with pytest.raises(Conflict, match="already exists"):
        people.add_team("research", who["root"])
    with pytest.raises(Unauthorized, match="'stranger' is not a baton user"):
        people.acting("stranger")
    assert "zed" not in [p.name for p in people.people()]
    assert people.person("root").admin and not people.person("alice").admin


def test_stage_aliases_move_only_through_promotion_when_governed(world: World) -> None:
    with pytest.raises(Forbidden, match="@production moves only through promotion"):
        world.gov.set_alias("toy", "production", 1, "sam", "shortcut", governed=True)
    assert world.gov.set_alias("toy", "shadow", 1, "sam", "mirror traffic", governed=True) is None
    assert "production" not in world.store.registry.model("toy")[0].aliases
    assert actions(world)[:2] == ["alias.set", "alias.set.refused"]
