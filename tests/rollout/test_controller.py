"""The controller's resumption: a controller taking over an orphaned rollout does not count
the time nobody held it toward the step's deadline (a version is not rolled back because
its controller died), and counts everything when there was no predecessor to lose. While
it waits, it has the traffic mend the servers every few seconds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from baton.core.rollout_records import Change, Holder, Lease, Phase, RolloutRecord, Weights
from baton.errors import Unavailable
from baton.rollout.controller import Controller, Timing
from baton.store.canaries import Canaries
from baton.store.rollouts import Expected, NewRollout
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

    def mend(self, rollout: RolloutRecord) -> bool:
        raise AssertionError("mend")


class Mending(NoTraffic):
    """Counts the checks; the first fails as a router that is away would."""

    def __init__(self) -> None:
        self.checked: list[int] = []

    def mend(self, rollout: RolloutRecord) -> bool:
        self.checked.append(rollout.step)
        if len(self.checked) == 1:
            raise Unavailable("cannot reach the router at http://127.0.0.1:9")
        return False


def test_time_without_an_owner_does_not_count_toward_the_steps_deadline(
    store: Store, tmp_path: Path
) -> None:
    canaries, r = _started(store, tmp_path)
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


def test_waiting_mends_the_servers_every_few_seconds_and_goes_on_when_that_fails(
    store: Store, tmp_path: Path
) -> None:
    canaries, r = _started(store, tmp_path)
    me = Holder(2, "h")
    r = _progressing(canaries, r, me)
    clock = iter(range(10_000))  # one second a look: 10 s of waiting in 40 looks or so
    timing = Timing(now=lambda: float(next(clock)), poll_s=0.0, mend_s=2.0)
    traffic = Mending()
    controller = Controller(canaries, r.id, me, Scripted([]), traffic, timing)
    assert controller._wait(r, 20.0) is None  # nothing moved; the failure did not stop it
    assert len(traffic.checked) >= 3 and set(traffic.checked) == {0}


def _started(store: Store, tmp_path: Path) -> tuple[Canaries, RolloutRecord]:
    """``toy`` 1 to 2, recorded and initializing: no controller has taken it yet."""
    canary_world(store, tmp_path / "org")
    canaries = Canaries(store.engine, store.registry)
    r = canaries.rollouts.start(NewRollout(model="toy", from_version=1, to_version=2,
                                           baseline_version=1), "sam")  # fmt: skip
    return canaries, r


class Failing(NoTraffic):
    """A server that will not start: every mend fails."""

    def __init__(self, clock: list[float]) -> None:
        self.clock, self.tried_at = clock, []

    def mend(self, rollout: RolloutRecord) -> bool:
        self.tried_at.append(self.clock[0])
        raise Unavailable("the stable server of toy:1 exited with status 2 before serving")


def test_a_mend_that_keeps_failing_is_tried_after_1_s_then_2_4_8(
    store: Store, tmp_path: Path
) -> None:
    """Not every 2 s for ever: a server that cannot start would be spawned again and again."""
    canaries, r = _started(store, tmp_path)
    me = Holder(2, "h")
    _progressing(canaries, r, me)
    clock = [100.0]
    traffic = Failing(clock)
    controller = Controller(canaries, r.id, me, Scripted([]), traffic,
                            Timing(now=lambda: clock[0], mend_s=2.0))  # fmt: skip
    for second in range(100, 131):
        clock[0] = float(second)
        controller._mend()
    assert traffic.tried_at == [100.0, 102.0, 104.0, 108.0, 116.0]


def _progressing(canaries: Canaries, r: RolloutRecord, me: Holder) -> RolloutRecord:
    """The rollout taken by controller ``me`` and at its first step (90/10)."""
    r = canaries.rollouts.claim(r.id, me, 30)
    return canaries.rollouts.update(r.id, Change(phase=Phase.PROGRESSING, step=0,
                                                 weights=Weights(stable=90, canary=10)),
                                    expected=Expected.of(r), actor=f"controller:h:{me.pid}",
                                    holder=me)  # fmt: skip
