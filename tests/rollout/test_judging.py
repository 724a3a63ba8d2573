"""The controller's judge: the rollout spec (and the model's SLO) become the judge's
configuration, and a verdict becomes the records the store keeps: each metric with its
numbers (an unbounded interval end left out), the output metric's parts, and an unread
interval as ``unreadable``."""

from __future__ import annotations

import math

from baton.core.canary_judge import (
    Histogram,
    IntervalCounts,
    JudgeConfig,
    MetricResult,
    OutputHistogram,
    VariantCounts,
    Verdict,
    judge,
    unreadable,
)
from baton.core.canary_profiles import spec_for
from baton.core.rollout_records import Classification, RolloutSpec, Thresholds
from baton.rollout.judging import judge_config, judgement, record

BOUNDS = (0.001, 0.005, 0.01, 0.05, math.inf)


def counts(requests: int, errors: int, slow: int = 0, nonfinite: int = 0) -> VariantCounts:
    fast = requests - errors - slow
    latency = Histogram(BOUNDS, (0.0, float(fast), 0.0, float(slow), 0.0))
    outputs = (OutputHistogram("probabilities", Histogram((0.3, 0.6, math.inf),
                                                          (requests / 3,) * 3)),)  # fmt: skip
    return VariantCounts(float(requests), float(errors), latency, outputs, float(nonfinite))


def test_the_spec_and_the_slo_make_the_config() -> None:
    spec = spec_for("test")
    config = judge_config(spec, slo_p99_ms=20.0)
    assert config.min_requests == 25 and config.p99_slo_s == 1.0  # the test profile's 1 s
    assert judge_config(RolloutSpec(), slo_p99_ms=20.0).p99_slo_s == 0.02  # the SLO
    assert judge_config(RolloutSpec(), slo_p99_ms=None).p99_slo_s == 0.5  # Flagger's example
    strict = RolloutSpec(thresholds=Thresholds(success_rate_min=1.0, pass_score=90,
                                               latency_allowed_increase=1.5))  # fmt: skip
    config = judge_config(strict, None)
    assert config.success_rate_min < 1 and config.pass_score == 90
    assert config.latency_allowed_ratio == 1.5 and config.confidence == JudgeConfig().confidence


def test_a_verdict_becomes_records() -> None:
    config = judge_config(spec_for("test"), None)
    bad = judge(IntervalCounts(counts(100, 20), counts(100, 0)), config)
    out = judgement(bad)
    assert out.outcome == "rollback" and out.failed_check and out.score == 0
    rate = out.metrics["success_rate"]
    assert rate.classification is Classification.HIGH and rate.critical
    assert rate.n_canary == 100 and rate.message and "success 80/100" in rate.message
    assert out.metrics["errors"].p_value is not None
    assert "output:probabilities" in out.metrics  # the output metric's part, kept apart
    good = judgement(judge(IntervalCounts(counts(100, 0), counts(100, 0)), config))
    assert good.outcome == "advance" and good.score == 100
    assert {m.classification for m in good.metrics.values()} == {Classification.PASS}


def test_unreadable_and_unbounded_numbers() -> None:
    out = judgement(unreadable("cannot reach Prometheus at http://127.0.0.1:1"))
    assert (out.outcome, out.score, dict(out.metrics)) == ("unreadable", None, {})
    assert "cannot reach Prometheus" in out.reason
    m = MetricResult("latency", "pass", "wide", ci=(-math.inf, 0.002), estimate=0.001,
                     threshold=math.inf, p_value=0.4)  # fmt: skip
    kept = record(m)
    assert (kept.ci_low, kept.ci_high, kept.p_value) == (None, 0.002, 0.4)
    assert kept.values == {"estimate": 0.001}
    assert isinstance(judgement(Verdict("hold", 80.0, True, "marginal")).score, float)
