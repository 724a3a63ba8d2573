"""The governed alias guard: stage aliases move only through promotion, and any other
alias only by the model's owner team or the teams R or A of deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.roles import NotPermitted
from baton.errors import Forbidden, NotFound
from baton.handover.register import register_handover
from baton.store.store import Store
from tests.handover_factory import write_handover
from tests.ownership_factory import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


def test_stage_aliases_move_only_through_promotion_when_governed(world: World) -> None:
    with pytest.raises(Forbidden, match="@production moves only through promotion"):
        world.gov.set_alias("toy", "production", 1, world.people["sam"], "shortcut", governed=True)
    sam = world.people["sam"]
    assert world.gov.set_alias("toy", "shadow", 1, sam, "mirror traffic", governed=True) is None
    assert "production" not in world.store.registry.model("toy")[0].aliases
    assert world.actions()[:2] == ["alias.set", "alias.set.refused"]


@pytest.mark.parametrize("alias", ["shadow", "candidate", "canary"])
def test_a_team_with_no_role_may_not_move_an_alias(world: World, alias: str) -> None:
    before = world.store.registry.model("toy")[0].aliases
    with pytest.raises(NotPermitted) as refused:
        world.gov.set_alias("toy", alias, 1, world.people["mia"], "mine now", governed=True)
    assert refused.value.who_can == ("research", "serving")
    assert f"may move @{alias}; your teams: marketing" in refused.value.message
    assert world.store.registry.model("toy")[0].aliases == before
    entry = world.store.registry.log_entries("toy", limit=1)[0]
    assert (entry.actor, entry.action, entry.version, entry.reason) == (
        "mia",
        "alias.set.refused",
        1,
        "mine now",
    )
    assert entry.detail["alias"] == alias
    assert "only the owner team research" in entry.detail["refused"]


@pytest.mark.parametrize("who", ["alice", "sam"])
def test_the_owner_team_and_the_deployers_may_move_an_alias(world: World, who: str) -> None:
    actor = world.people[who]
    assert world.gov.set_alias("toy", "candidate", 1, actor, "back to v1", governed=True) == 3
    assert world.store.registry.model("toy")[0].aliases["candidate"] == 1
    assert world.actions()[0] == "alias.set"


def test_the_matrix_decides_who_deploys(world: World) -> None:
    doc = {"stages": {"deployment": {"marketing": "RA", "serving": "I"}}}
    world.gov.roles.set_roles("toy", doc, world.people["alice"], "marketing runs it now")
    mia, sam = world.people["mia"], world.people["sam"]
    assert world.gov.set_alias("toy", "shadow", 2, mia, "theirs now", governed=True) is None
    with pytest.raises(NotPermitted):
        world.gov.set_alias("toy", "shadow", 1, sam, "no longer ours", governed=True)


def test_registration_still_sets_candidate(world: World, tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "v4", seed=4)
    registered = register_handover(world.store, folder, actor="mia")
    assert registered.version.number == 4
    assert world.store.registry.model("toy")[0].aliases["candidate"] == 4


def test_unknown_model_or_version_is_not_found(world: World) -> None:
    sam = world.people["sam"]
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        world.gov.set_alias("nope", "shadow", 1, sam, None, governed=True)
    with pytest.raises(NotFound, match="toy has no version 9"):
        world.gov.set_alias("toy", "shadow", 9, sam, None, governed=True)
