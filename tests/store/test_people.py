"""Teams, people and tokens: authentication, revocation, admin-only management."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.core.promotion import Target
from baton.core.roles import NotPermitted
from baton.errors import Conflict, Forbidden, NotFound, Unauthorized
from baton.store.store import Store
from tests.ownership_factory import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


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
    everything = json.dumps([e.detail for e in world.store.registry.log_entries(limit=10_000)])
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


def test_membership_moves_roles_with_it(world: World) -> None:
    people, who = world.gov.people, world.people
    with pytest.raises(Forbidden, match="only an admin may change the teams of mia"):
        people.set_membership("mia", "serving", who["alice"], member=True)
    moved = people.set_membership("mia", "serving", who["root"], member=True, reason="on-call")
    assert moved.teams == ("marketing", "serving")
    with pytest.raises(Conflict, match="mia is already in team serving"):
        people.set_membership("mia", "serving", who["root"], member=True)
    world.evaluate(1)
    asked = world.gov.promotions.promote("toy", 1, Target.STAGING, moved, "mia may now ask")
    assert asked.requested_by == "mia"
    gone = people.set_membership("alice", "research", who["root"], member=False)
    assert gone.teams == ()
    with pytest.raises(NotPermitted, match="your teams: none"):
        world.gov.promotions.approve("toy", 1, Target.STAGING, gone, "still me?")
    with pytest.raises(Conflict, match="alice is not in team research"):
        people.set_membership("alice", "research", who["root"], member=False)
    with pytest.raises(NotFound, match="unknown team 'ghosts'"):
        people.set_membership("alice", "ghosts", who["root"], member=True)
    actions = [e.action for e in world.store.registry.log_entries(limit=100)]
    assert actions[:3] == ["promotion.approve.refused", "user.leave", "promotion.request"]
