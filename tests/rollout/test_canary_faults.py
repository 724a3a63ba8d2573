"""Live faults: Prometheus killed mid-rollout pauses the canary at its step and raises an
alert (never a promotion on missing data); a person's abort then rolls it back; starting
a canary for a version that is not approved through one, or while another runs, is a
one-line refusal. No request fails meanwhile."""

from __future__ import annotations

import pytest

from baton.core.rollout_records import Decision, Phase, Weights
from tests.baton_cli import baton
from tests.rollout.canary_live import MODEL, Live, live_fixture  # noqa: F401 (the fixture)
from tests.waiting import wait_until

VARIANTS = ["good"]
pytestmark = [pytest.mark.canary, pytest.mark.xdist_group("canary")]


def test_refusals_are_one_line(live: Live) -> None:
    number = live.versions["good"]
    done = baton(live.env, "canary", "start", MODEL, "--to", str(number), "--why", "go")
    assert done.returncode == 2, done.stderr
    assert "nothing approved waits to move toy:2 to production" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    mia = baton({**live.env, "BATON_USER": "mia"}, "canary", "pause", MODEL, "--why", "x")
    assert mia.returncode == 1 and "only team serving" in mia.stderr


def test_killing_prometheus_pauses_then_an_abort_rolls_back(live: Live) -> None:
    with live.load(seed=7) as load:
        rollout = live.start("good")
        wait_until(lambda: live.canaries.rollouts.get(rollout.id).step >= 1 or None,
                   "the first step to pass", timeout=60)  # fmt: skip
        live.prometheus.stop()
        paused = live.wait(rollout, Phase.PAUSED, Phase.SUCCEEDED, Phase.FAILED, timeout=60)
        assert paused.phase is Phase.PAUSED
        assert paused.weights.canary in (25, 50) and paused.step in (1, 2)
        decisions = live.decisions(rollout)
        assert decisions[-1].decision is Decision.PAUSE and decisions[-1].score is None
        assert "metrics unreadable 2 intervals in a row" in decisions[-1].reason
        alerts = live.canaries.rollouts.alerts(MODEL, rollout.id)
        assert [severity for _, severity, _ in alerts] == ["critical"]
        status = live.cli("canary", "status", MODEL).stdout
        assert "paused" in status and "alert (critical)" in status
        # paused stays paused: the weights do not move while nobody can judge
        assert live.canaries.rollouts.get(rollout.id).weights == paused.weights
        live.cli("canary", "abort", MODEL, "--why", "Prometheus is down, not guessing",
                 user="sue")  # fmt: skip
        done = live.wait(rollout, Phase.ABORTED, Phase.FAILED)
    assert done.phase is Phase.ABORTED and done.weights == Weights(stable=100)
    assert done.reason == "aborted by sue: Prometheus is down, not guessing"
    assert live.production() == live.versions["stable"]
    assert load.tally.failed() == {}, load.tally.counts
