"""Which R&R matrix is in force, and who may change it, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from baton.core.roles import NotPermitted, Stage
from baton.errors import BadInput, Forbidden, NotFound
from baton.store.store import Store
from tests.ownership_factory import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


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
    assert world.actions()[:2] == ["roles.set", "roles.set.refused"]


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


def test_migration_0003_downgrades_and_upgrades_again(store: Store) -> None:
    from alembic import command

    from baton.store.db import _alembic_config, current_revisions, migrate

    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0002")
    assert current_revisions(store.engine) == {"0002"}
    assert "people" not in sa.inspect(store.engine).get_table_names()
    assert migrate(store.engine) is True
    assert {"people", "tokens", "promotions", "approvals", "requests", "role_matrices"} <= set(
        sa.inspect(store.engine).get_table_names()
    )


def test_owners_of_reads_what_owners_reads_for_each_model(world: World) -> None:
    roles = world.gov.roles
    assert roles.owners_of({"toy"}) == {"toy": roles.owners("toy")}
    doc = {"stages": {"on-call": {"research": "RA", "serving": "C"}}}
    roles.set_roles("toy", doc, world.people["alice"], "research carries the pager")
    roles.set_roles(
        "toy", {"stages": {"on-call": {"serving": "RA"}}}, world.people["alice"], "back"
    )
    found = roles.owners_of(["toy"])
    assert found == {"toy": roles.owners("toy")}
    assert (
        found["toy"].source == "model"
        and found["toy"].matrix.accountable(Stage.ONCALL) == "serving"
    )
    assert roles.owners_of([]) == {}
    with pytest.raises(NotFound, match="unknown model 'ghost'"):
        roles.owners_of(["toy", "ghost"])
