"""Live: a version no worse than the baseline goes through every step and is promoted;
a controller killed mid-rollout is taken over by the next one, which resumes where the
record says. No request fails meanwhile. Real processes: ``baton serve`` for each variant,
``baton router``, Prometheus scraping each second, the controller, a load generator."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from baton.core.rollout_records import Decision, Phase, Weights
from tests.baton_cli import baton
from tests.rollout.canary_live import MODEL, Live, live_fixture  # noqa: F401 (the fixture)
from tests.waiting import wait_until

VARIANTS = ["good", "good-again"]
pytestmark = [pytest.mark.canary, pytest.mark.xdist_group("canary")]


def test_a_good_version_is_promoted_through_every_step(live: Live) -> None:
    with live.load(seed=1) as load:
        rollout = live.start("good")
        done = live.wait(rollout, Phase.SUCCEEDED, Phase.FAILED)
    decisions = live.decisions(rollout)
    assert done.phase is Phase.SUCCEEDED, [(d.decision.value, d.reason) for d in decisions]
    moves = [(d.step, d.decision) for d in decisions if d.decision is not Decision.HOLD]
    assert moves == [(0, Decision.ADVANCE), (1, Decision.ADVANCE), (2, Decision.PROMOTE)]
    assert [d.weights.canary for d in decisions if d.decision is not Decision.HOLD] == [10, 25, 50]
    assert live.production() == live.versions["good"]
    assert live.world.gov.promotions.history(MODEL)[0].state == "applied"
    assert load.tally.failed() == {}, load.tally.counts
    assert load.tally.by_variant()["canary"] > 0 and load.tally.by_variant()["baseline"] > 0
    # the deployment now runs only the promoted version, as its stable server
    status = live.cli("deploy", "status", MODEL).stdout
    servers = [
        line.split()[:2] for line in status.splitlines()[2:] if not line.startswith("  canary:")
    ]
    assert servers == [["stable", f"{MODEL}:{live.versions['good']}"]], status


def test_a_killed_controller_is_taken_over_and_resumes(live: Live) -> None:
    with live.load(seed=2) as load:
        rollout = live.start("good-again")
        advanced = wait_until(
            lambda: live.canaries.rollouts.get(rollout.id).step >= 1 or None,
            "the first step to pass", timeout=60,
        )  # fmt: skip
        held = live.canaries.rollouts.get(rollout.id)
        assert advanced and held.lease is not None
        os.kill(held.lease.holder.pid, signal.SIGKILL)
        # traffic stays where the record says, owned by nobody until the lease expires
        assert live.canaries.rollouts.get(rollout.id).weights == held.weights
        runner = subprocess.Popen(
            [*_baton(), "canary", "run", MODEL], env=live.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        done = live.wait(rollout, Phase.SUCCEEDED, Phase.FAILED)
        output, _ = runner.communicate(timeout=60)
    assert done.phase is Phase.SUCCEEDED, output
    assert done.weights == Weights(stable=0, canary=100)
    claims = live.store.registry.log_entries(MODEL, limit=500)
    took_over = [e for e in claims if e.action == "rollout.lease.claim"
                 and e.detail.get("took_over_from") == str(held.lease.holder)]  # fmt: skip
    assert len(took_over) == 1, [e.detail for e in claims if e.action == "rollout.lease.claim"]
    steps = [d.step for d in live.decisions(rollout) if d.decision is not Decision.HOLD]
    assert steps == sorted(steps) and steps[-1] == 2  # no step repeated from the start
    assert load.tally.failed() == {}, load.tally.counts
    assert runner.returncode == 0, output


def _baton() -> list[str]:
    from baton.rollout.supervise import baton_argv

    return baton_argv()


__all__ = ["baton"]
