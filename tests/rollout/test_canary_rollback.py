"""Live: an erroring, a slower, a NaN-producing and a differently-predicting version are
each rolled back by the check that should catch them, with the reason in the audit log;
a canary whose traffic stops holds and is rolled back at its deadline. Only the bad
canary's own answers fail: no request fails because of the rollout or the rollback."""

from __future__ import annotations

import pytest

from baton.core.rollout_records import Classification, Decision, Phase, Weights
from tests.rollout.canary_live import MODEL, Live, live_fixture  # noqa: F401 (the fixture)

VARIANTS = ["erroring", "slow", "nan", "drifting", "good-quiet"]
pytestmark = [pytest.mark.canary, pytest.mark.xdist_group("canary")]


def rolled_back(live: Live, variant: str, seed: int) -> str:
    """Roll the variant out under load until it is rolled back; the rollout's reason."""
    before = live.production()
    with live.load(seed=seed) as load:
        rollout = live.start(variant)
        done = live.wait(rollout, Phase.FAILED, Phase.SUCCEEDED)
    decisions = live.decisions(rollout)
    assert done.phase is Phase.FAILED, [(d.decision.value, d.reason) for d in decisions]
    assert done.weights == Weights(stable=100)
    assert decisions[-1].decision is Decision.ROLLBACK
    assert live.production() == before
    assert live.world.gov.promotions.history(MODEL)[0].state == "cancelled"
    assert live.audit("promotion.cancel")[-1] == done.reason
    # the canary's own answers may fail; nothing else may
    assert load.tally.failed(but=frozenset({"canary"})) == {}, load.tally.counts
    assert done.reason is not None
    return done.reason


def test_an_erroring_version_is_rolled_back_by_the_success_rate_guard(live: Live) -> None:
    with live.load(seed=3) as load:
        rollout = live.start("erroring")
        done = live.wait(rollout, Phase.FAILED, Phase.SUCCEEDED)
    last = live.decisions(rollout)[-1]
    assert done.phase is Phase.FAILED and last.decision is Decision.ROLLBACK, last.reason
    assert done.reason is not None and done.reason.startswith("critical: success_rate: success")
    assert last.metrics["success_rate"].classification is Classification.HIGH
    assert last.metrics["success_rate"].critical
    assert live.audit("promotion.cancel")[-1] == done.reason
    assert load.tally.failed(but=frozenset({"canary"})) == {}, load.tally.counts
    assert set(load.tally.failed()) <= {("canary", "500")}


def test_a_slower_version_is_rolled_back_by_the_latency_check(live: Live) -> None:
    reason = rolled_back(live, "slow", seed=4)
    assert reason.startswith("2 failed checks (rollback at 2)") and "latency high" in reason


def test_a_nan_producing_version_is_rolled_back_by_the_nonfinite_guard(live: Live) -> None:
    reason = rolled_back(live, "nan", seed=5)
    assert reason.startswith("critical: nonfinite:") and "rows with NaN or infinity" in reason


def test_a_differently_predicting_version_is_rolled_back_by_the_output_check(
    live: Live,
) -> None:
    reason = rolled_back(live, "drifting", seed=6)
    assert "output high" in reason and "latency high" not in reason


def test_stopped_traffic_holds_then_rolls_back_at_the_deadline(live: Live) -> None:
    rollout = live.start("good-quiet")  # no load at all: nothing to judge
    done = live.wait(rollout, Phase.FAILED, Phase.SUCCEEDED, timeout=90)
    decisions = live.decisions(rollout)
    assert done.phase is Phase.FAILED
    assert {d.decision for d in decisions[:-1]} == {Decision.HOLD}
    assert all(d.score == 0 for d in decisions[:-1])  # no data never promotes
    assert decisions[-1].decision is Decision.ROLLBACK
    assert done.reason is not None and "no progress for" in done.reason
    assert "deadline 20 s" in done.reason and done.failed_checks == 0
