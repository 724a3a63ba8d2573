"""The control plane over the store here: the same answers as the services, acting as
BATON_USER; the services it does not need for a call are not loaded (``test_startup``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.refs import Ref
from baton.core.roles import NotPermitted
from baton.errors import Forbidden
from baton.handover.register import register_handover
from baton.store.local_control import LocalControl
from baton.store.store import Store
from tests.handover_factory import write_handover
from tests.ownership_factory import World, build_world


def test_reading_the_registry(store: Store, tmp_path: Path) -> None:
    register_handover(store, write_handover(tmp_path / "h"), actor="solo", reason="first")
    local = LocalControl(store, "solo")
    (info,) = local.models()
    assert (info.name, info.versions) == ("toy", 1)
    model, versions = local.model("toy")
    assert model == info and [v.number for v in versions] == [1]
    assert local.resolve(Ref("toy", 1)).number == 1
    assert "version.register" in {e.action for e in local.log_entries("toy")}
    assert local.evaluations("toy") == []
    story = local.history("toy", None)
    assert story.model == "toy" and story.events


def test_governs_stage_aliases_once_people_exist(store: Store, tmp_path: Path) -> None:
    register_handover(store, write_handover(tmp_path / "h"), actor="solo")
    solo = LocalControl(store, "solo")
    assert solo.set_alias("toy", "production", 1, "single-user store") is None
    bootstrap = solo.whoami()
    assert (bootstrap.registered, bootstrap.admin) == (False, True)
    solo.add_team("serving", None)
    solo.add_user("solo", ["serving"], False, None)
    with pytest.raises(Forbidden, match="moves only through promotion"):
        solo.set_alias("toy", "production", 1, "now governed")
    assert solo.set_alias("toy", "canary", 1, "free alias") is None
    assert solo.whoami().admin  # the first person is admin


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


def test_refuses_a_cross_team_move(world: World) -> None:
    with pytest.raises(NotPermitted, match="may move @shadow"):
        LocalControl(world.store, "mia").set_alias("toy", "shadow", 1, "mine")
    assert LocalControl(world.store, "bob").set_alias("toy", "shadow", 1, "ours") is None
