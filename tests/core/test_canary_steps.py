"""The controller's move after each interval: advance, promote, hold, fail, roll back on a
guardrail, on too many failed checks or at the deadline, pause on unreadable metrics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.canary_profiles import lease_ttl_s, spec_for
from baton.core.canary_steps import (
    Judgement,
    Move,
    next_move,
    unreadable_in_a_row,
    weights_at,
)
from baton.core.rollout_records import (
    Classification,
    Decision,
    DecisionRecord,
    MetricResult,
    Phase,
    RolloutRecord,
    RolloutSpec,
    RolloutTarget,
    Thresholds,
    Weights,
)
from baton.errors import BadInput

NOW = datetime(2026, 12, 9, tzinfo=UTC)
SPEC = RolloutSpec(steps=(5, 10, 25, 50), deadline_s=100,
                   thresholds=Thresholds(failed_checks=3, consecutive_errors=2))  # fmt: skip


def record(step: int = 0, failed: int = 0, spec: RolloutSpec = SPEC) -> RolloutRecord:
    return RolloutRecord(
        id=1, model="toy", from_version=1, to_version=2, baseline_version=1,
        target=RolloutTarget.LOCAL, phase=Phase.PROGRESSING, step=step,
        weights=weights_at(spec, step), spec=spec, failed_checks=failed, promotion_id=None,
        started_by="sam", started_at=NOW, updated_at=NOW, finished_at=None, reason=None,
        lease=None,
    )  # fmt: skip


def move(rec: RolloutRecord, j: Judgement, unreadable: int = 0, age: float = 10.0) -> Move:
    return next_move(rec, j, unreadable_before=unreadable, step_age_s=age)


ADVANCE = Judgement("advance", "score 100", score=100.0)
MARGINAL = Judgement("hold", "marginal score 80", score=80.0, failed_check=True)
NODATA = Judgement("hold", "no data: 3 canary requests", score=0.0)
FAIL = Judgement("fail", "score 40", score=40.0, failed_check=True)


def test_weights_of_each_step_and_promotion() -> None:
    assert [weights_at(SPEC, i) for i in range(4)] == [
        Weights(stable=100 - 2 * p, baseline=p, canary=p) for p in (5, 10, 25, 50)
    ]
    assert weights_at(SPEC, 4) == Weights(stable=0, canary=100)
    with pytest.raises(BadInput, match="the rollout has steps 0 to 4"):
        weights_at(SPEC, 5)
    with pytest.raises(BadInput, match="cannot both get 60 %"):
        weights_at(RolloutSpec(steps=(60,)), 0)


@given(st.lists(st.integers(1, 50), min_size=1, max_size=6, unique=True).map(sorted))
def test_every_step_sums_to_100(steps: list[int]) -> None:
    spec = RolloutSpec(steps=tuple(steps))
    for i in range(len(steps) + 1):
        w = weights_at(spec, i)
        assert w.stable + w.baseline + w.canary == 100 and w.baseline in (0, w.canary)


def test_advance_then_promote() -> None:
    first = move(record(0), ADVANCE)
    assert first.decision is Decision.ADVANCE and first.change is not None
    assert (first.change.step, first.change.weights) == (1, weights_at(SPEC, 1))
    assert first.reason == "score 100; next step: canary 10 %"
    last = move(record(3), ADVANCE)
    assert last.decision is Decision.PROMOTE and last.change is not None
    assert last.change.phase is Phase.PROMOTING
    assert last.reason.endswith("the last step passed: promote")


def test_failed_checks_add_up_to_a_rollback() -> None:
    once = move(record(1), MARGINAL)
    assert once.decision is Decision.HOLD and once.change is not None
    assert once.change.failed_checks == 1 and once.reason.endswith("(failed check 1 of 3)")
    twice = move(record(1, failed=1), FAIL)
    assert twice.decision is Decision.FAIL and twice.change is not None
    assert twice.change.failed_checks == 2
    third = move(record(1, failed=2), FAIL)
    assert third.decision is Decision.ROLLBACK and third.change is not None
    assert (third.change.phase, third.change.failed_checks) == (Phase.ROLLING_BACK, 3)
    assert third.reason == "3 failed checks (rollback at 3); last: score 40"


def test_no_data_holds_without_a_failed_check_until_the_deadline() -> None:
    held = move(record(2, failed=1), NODATA, age=99.0)
    assert (held.decision, held.change) == (Decision.HOLD, None)
    late = move(record(2, failed=1), NODATA, age=100.0)
    assert late.decision is Decision.ROLLBACK and late.change is not None
    assert late.change.phase is Phase.ROLLING_BACK
    assert late.reason.startswith("no progress for 100 s at step 3 (deadline 100 s)")


def test_a_guardrail_rolls_back_at_once() -> None:
    out = move(record(0), Judgement("rollback", "critical: success_rate: 80 %", score=0.0,
                                    failed_check=True))  # fmt: skip
    assert out.decision is Decision.ROLLBACK and out.change is not None
    assert (out.change.phase, out.change.failed_checks) == (Phase.ROLLING_BACK, 1)
    assert out.reason == "critical: success_rate: 80 %"


def test_unreadable_metrics_hold_then_pause() -> None:
    down = Judgement("unreadable", "cannot reach Prometheus")
    first = move(record(1), down)
    assert (first.decision, first.change) == (Decision.HOLD, None)
    assert first.reason.startswith("metrics unreadable (1 of 2 before pausing)")
    second = move(record(1), down, unreadable=1, age=1000.0)  # never a deadline rollback
    assert second.decision is Decision.PAUSE and second.change is not None
    assert second.change.phase is Phase.PAUSED
    assert "until a person resumes it" in second.reason


def decision(kind: Decision, score: float | None, metrics: bool = False) -> DecisionRecord:
    found = {"errors": MetricResult(classification=Classification.PASS)} if metrics else {}
    return DecisionRecord(1, 1, NOW, 0, Weights(stable=100), score, kind, "x", found)


def test_unreadable_in_a_row_counts_from_the_end() -> None:
    unread = decision(Decision.HOLD, None)
    assert unreadable_in_a_row([]) == 0
    assert unreadable_in_a_row([decision(Decision.ADVANCE, 100, True), unread, unread]) == 2
    assert unreadable_in_a_row([unread, decision(Decision.PAUSE, None)]) == 0
    assert unreadable_in_a_row([unread, decision(Decision.HOLD, 0.0, True)]) == 0


def test_profiles() -> None:
    assert spec_for("production") == RolloutSpec()
    test = spec_for("test")
    assert test.steps == (10, 25, 50) and test.interval_s == 5.0 and test.min_requests == 25
    assert spec_for("test", interval_s=2.0, steps=None).interval_s == 2.0
    assert spec_for("production", steps=(1, 2)).steps == (1, 2)
    with pytest.raises(BadInput, match="unknown profile 'fast'"):
        spec_for("fast")
    assert (lease_ttl_s(RolloutSpec()), lease_ttl_s(test)) == (30.0, 5.0)
