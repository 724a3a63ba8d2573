"""The governed alias guard: stage aliases move only through promotion."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.errors import Forbidden
from baton.handover.register import register_handover
from baton.store.governance import LocalControl
from baton.store.store import Store
from tests.handover_factory import write_handover
from tests.ownership_factory import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


def test_stage_aliases_move_only_through_promotion_when_governed(world: World) -> None:
    with pytest.raises(Forbidden, match="@production moves only through promotion"):
        world.gov.set_alias("toy", "production", 1, "sam", "shortcut", governed=True)
    assert world.gov.set_alias("toy", "shadow", 1, "sam", "mirror traffic", governed=True) is None
    assert "production" not in world.store.registry.model("toy")[0].aliases
    assert world.actions()[:2] == ["alias.set", "alias.set.refused"]


def test_local_control_governs_stage_aliases_once_people_exist(
    store: Store, tmp_path: Path
) -> None:
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
