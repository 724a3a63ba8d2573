"""``canary_service.steer`` and ``steer_as``: the CLI acts as BATON_USER, the dashboard as
its signed-in person; both go through the R&R matrix and leave a held rollout to its
controller (no controller is spawned while a live one holds the lease)."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.config import Settings
from baton.core.canary_roles import CanaryAction
from baton.core.roles import NotPermitted
from baton.core.rollout_records import Phase
from baton.errors import BadInput
from baton.rollout.canary_service import steer, steer_as
from baton.store.rollouts import Rollouts
from baton.store.store import Store
from tests.history_factory import seed_rollouts
from tests.ownership_factory import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    built = build_world(store, tmp_path)
    seed_rollouts(store)  # #2 in progress, held by this process's lease
    return built


def test_the_cli_acts_as_baton_user_and_the_dashboard_as_its_person(
    world: World, settings: Settings
) -> None:
    live = Rollouts(world.store.engine).active("toy")
    assert live is not None and live.phase is Phase.PROGRESSING
    as_mia = settings.model_copy(update={"user": "mia"})
    with pytest.raises(NotPermitted, match="only team serving"):
        steer(as_mia, world.store, "toy", CanaryAction.PAUSE, "marketing says stop")
    with pytest.raises(BadInput, match="say why"):
        steer_as(settings, world.store, "toy", CanaryAction.PAUSE, world.people["sam"], " ")
    paused = steer_as(settings, world.store, "toy", CanaryAction.PAUSE, world.people["sam"],
                      "a launch tonight")  # fmt: skip
    assert paused.phase is Phase.PAUSED and paused.lease == live.lease  # still its controller's
    as_sue = settings.model_copy(update={"user": "sue"})
    resumed = steer(as_sue, world.store, "toy", CanaryAction.RESUME, "launch went fine")
    assert resumed.phase is Phase.PROGRESSING
    entries = world.store.registry.log_entries("toy", 5)
    said = [(e.action, e.actor, e.reason) for e in entries]
    assert ("rollout.update", "sam", "a launch tonight") in said
    assert ("rollout.update", "sue", "launch went fine") in said
