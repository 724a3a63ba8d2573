"""Live: a rollout whose controller *and* supervisor die (``kill -9`` of both, as a host
reboot leaves it) is not left without an owner: once the lease expired, status says it is
orphaned and since when, and the deployment's keeper adopts it (audited), starting a
controller that takes the lease over and resumes from the recorded step; the rollout is
promoted and no request fails meanwhile."""

from __future__ import annotations

import os
import signal

import pytest

from baton.core.rollout_records import Decision, Phase
from baton.rollout.canary_service import CanaryStatus, status
from tests.rollout.canary_live import MODEL, Live, live_fixture  # noqa: F401 (the fixture)
from tests.rollout.test_canary_promote import holder_after, parent_of
from tests.waiting import wait_until

VARIANTS = ["good"]
pytestmark = [pytest.mark.canary, pytest.mark.xdist_group("canary")]


def test_the_keeper_adopts_a_rollout_whose_controller_and_supervisor_died(live: Live) -> None:
    with live.load(seed=11) as load:
        rollout = live.start("good")
        first = holder_after(live, rollout, step=1)
        os.kill(parent_of(first.pid), signal.SIGKILL)  # the supervisor, then its controller
        os.kill(first.pid, signal.SIGKILL)
        at_kill = live.canaries.rollouts.get(rollout.id)

        def orphan() -> CanaryStatus | None:
            found = status(live.store, MODEL, live.settings)
            return found if found.orphaned_since is not None else None

        orphaned = wait_until(orphan, "the lease to expire", timeout=30)
        assert orphaned is not None
        assert orphaned.keeper and not orphaned.owned
        assert orphaned.rollout.lease is not None
        assert orphaned.orphaned_since == orphaned.rollout.lease.expires_at

        def adopted() -> object:
            lease = live.canaries.rollouts.get(rollout.id).lease
            return lease is not None and lease.holder != first and lease.holder

        wait_until(adopted, "the keeper's controller to take the rollout", timeout=60)
        done = live.wait(rollout, Phase.SUCCEEDED, Phase.FAILED)
    decisions = live.decisions(rollout)
    assert done.phase is Phase.SUCCEEDED, [(d.decision.value, d.reason) for d in decisions]
    assert live.production() == live.versions["good"]
    entries = live.store.registry.log_entries(MODEL, limit=500)
    adoption = [e for e in entries if e.action == "rollout.adopt"]
    assert len(adoption) == 1 and adoption[0].actor.startswith("keeper:")
    assert adoption[0].detail["last_holder"] == str(first)
    assert int(str(adoption[0].detail["step"])) >= at_kill.step
    claims = [e.detail.get("took_over_from") for e in reversed(entries)
              if e.action == "rollout.lease.claim"
              and e.detail.get("rollout") == rollout.id]  # fmt: skip
    assert claims == [None, str(first)], claims
    # resumed from its step: no step judged again from the start
    steps = [d.step for d in decisions if d.decision is not Decision.HOLD]
    assert steps == sorted(steps) and steps[-1] == len(done.spec.steps) - 1
    assert load.tally.failed() == {}, load.tally.counts
