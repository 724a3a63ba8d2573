"""The controller's resumption: a controller taking over an orphaned rollout does not count
the time nobody held it toward the step's deadline (a version is not rolled back because
its controller died), and counts everything when there was no predecessor to lose."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from baton.core.rollout_records import Holder, Lease, RolloutRecord, Weights
from baton.rollout.controller import Controller, Timing
from baton.store.canaries import Canaries
from baton.store.rollouts import NewRollout
from baton.store.store import Store
from tests.rollout.canary_world import Scripted, canary_world


class NoTraffic:
    """An initializing rollout routes nothing on resume: any call is a failure."""

    def prepare(self, rollout: RolloutRecord) -> None:
        raise AssertionError("prepare")

    def route(self, rollout: RolloutRecord, weights: Weights, reason: str) -> None:
        raise AssertionError("route")

    def promote(self, rollout: RolloutRecord, reason: str) -> None:
        raise AssertionError("promote")

    def rollback(self, rollout: RolloutRecord, reason: str) -> None:
        raise AssertionError("rollback")

    def retire(self, rollout: RolloutRecord, promoted: bool) -> None:
        raise AssertionError("retire")


def test_time_without_an_owner_does_not_count_toward_the_steps_deadline(
    store: Store, tmp_path: Path
) -> None:
    canary_world(store, tmp_path / "org")
    canaries = Canaries(store.engine, store.registry)
    r = canaries.rollouts.start(NewRollout(model="toy", from_version=1, to_version=2,
                                           baseline_version=1), "sam")  # fmt: skip
    t0 = r.started_at.timestamp()
    timing = Timing(now=lambda: t0 + 100)  # the new controller starts 100 s in
    me, dead = Holder(2, "h"), Holder(1, "h")
    # the dead one held it for 30 s, then nobody for 70 s: 30 s of the step have passed
    last_beat = r.started_at + timedelta(seconds=30)
    gone = Lease(dead, heartbeat_at=last_beat, expires_at=last_beat + timedelta(seconds=5))
    taking_over = Controller(canaries, r.id, me, Scripted([]), NoTraffic(), timing)
    taking_over._resume(r, gone)
    assert taking_over.step_since == pytest.approx(t0 + 70)
    # no predecessor (or itself): the whole time counts
    for previous in (None, Lease(me, last_beat, last_beat + timedelta(seconds=5))):
        again = Controller(canaries, r.id, me, Scripted([]), NoTraffic(), timing)
        again._resume(r, previous)
        assert again.step_since == pytest.approx(t0)
