"""Live: a version no worse than the baseline goes through every step and is promoted;
a controller killed mid-rollout is taken over by the next one, which resumes where the
record says. No request fails meanwhile. Real processes: ``baton serve`` for each variant,
``baton router``, Prometheus scraping each second, the controller, a load generator."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from baton.core.rollout_records import Decision, Holder, Phase, RolloutRecord, Weights
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
    # every step passed in turn; an interval may hold or fail on the way (one failed
    # check is tolerated, as Flagger's threshold tolerates it) but never skips a step
    moves = [(d.step, d.decision, d.weights.canary) for d in decisions
             if d.decision in (Decision.ADVANCE, Decision.PROMOTE)]  # fmt: skip
    said = [(d.decision.value, d.reason) for d in decisions]
    assert moves == [(0, Decision.ADVANCE, 10), (1, Decision.ADVANCE, 25),
                     (2, Decision.PROMOTE, 50)], said  # fmt: skip
    assert done.failed_checks < done.spec.thresholds.failed_checks
    assert live.production() == live.versions["good"]
    assert live.world.gov.promotions.history(MODEL)[0].state == "applied"
    assert load.tally.failed() == {}, load.tally.counts
    assert load.tally.by_variant()["canary"] > 0 and load.tally.by_variant()["baseline"] > 0
    # the deployment now runs only the promoted version, as its stable server
    status = live.cli("deploy", "status", MODEL).stdout
    servers = [
        line.split()[:2] for line in status.splitlines()[2:]
        if not line.startswith(("  canary:", "  keeper"))
    ]  # fmt: skip
    assert servers == [["stable", f"{MODEL}:{live.versions['good']}"]], status


def test_a_killed_controller_is_replaced_then_taken_over_by_hand(live: Live) -> None:
    """``kill -9`` of the controller: its supervisor starts another, which resumes; then
    the supervisor and that controller killed too: ``baton canary run`` takes it over."""
    with live.load(seed=2) as load:
        rollout = live.start("good-again")
        first = holder_after(live, rollout, step=1)
        os.kill(first.pid, signal.SIGKILL)
        # traffic stays where the record says while nobody holds it
        assert live.canaries.rollouts.get(rollout.id).weights.canary >= 25
        second = wait_until(lambda: _new_holder(live, rollout, first), "the restarted one",
                            timeout=60)  # fmt: skip
        assert second is not None
        supervisor = parent_of(second.pid)
        os.kill(supervisor, signal.SIGKILL)
        os.kill(second.pid, signal.SIGKILL)
        runner = subprocess.Popen(
            [*_baton(), "canary", "run", MODEL], env=live.env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        done = live.wait(rollout, Phase.SUCCEEDED, Phase.FAILED)
        output, _ = runner.communicate(timeout=60)
    assert done.phase is Phase.SUCCEEDED, output
    assert done.weights == Weights(stable=0, canary=100)
    claims = [
        e for e in live.store.registry.log_entries(MODEL, limit=500)
        if e.action == "rollout.lease.claim" and e.detail.get("rollout") == rollout.id
    ]  # fmt: skip
    took_over = [e.detail.get("took_over_from") for e in reversed(claims)]
    assert took_over == [None, str(first), str(second)], took_over
    steps = [d.step for d in live.decisions(rollout) if d.decision is not Decision.HOLD]
    assert steps == sorted(steps) and steps[-1] == 2  # no step repeated from the start
    assert load.tally.failed() == {}, load.tally.counts
    assert runner.returncode == 0, output


def holder_after(live: Live, rollout: RolloutRecord, step: int) -> Holder:
    def found() -> Holder | None:
        current = live.canaries.rollouts.get(rollout.id)
        return current.lease.holder if current.step >= step and current.lease else None

    holder = wait_until(found, f"step {step}", timeout=60)
    assert holder is not None
    return holder


def _new_holder(live: Live, rollout: RolloutRecord, old: Holder) -> Holder | None:
    lease = live.canaries.rollouts.get(rollout.id).lease
    return lease.holder if lease is not None and lease.holder != old else None


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rfind(")") + 2 :].split()[1])


def _baton() -> list[str]:
    from baton.rollout.supervise import baton_argv

    return baton_argv()


__all__ = ["baton"]
