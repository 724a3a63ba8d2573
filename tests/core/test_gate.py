"""The gate's pure rules, one verdict per check, with the reasons a report shows."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from baton.core.gate import (
    MetricDelta,
    OperatingPoint,
    SanityFacts,
    Verdict,
    cheapest_point,
    overall,
    parity,
    performance,
    regression,
    sanity,
    slo_shortfalls,
)
from baton.core.manifest import SLO
from baton.core.policy import RegressionPolicy, SanityPolicy


def test_parity_within_tolerance_passes_and_says_by_how_much() -> None:
    v = parity({"accuracy": 0.955, "macro_f1": 0.95}, {"accuracy": 0.96}, 0.01)
    assert v.passed and not v.skipped
    assert "accuracy 0.955 vs claimed 0.96" in v.reasons[0]


def test_parity_fails_a_claim_not_reproduced_either_way() -> None:
    worse = parity({"accuracy": 0.90}, {"accuracy": 0.96}, 0.01)
    assert not worse.passed and "not reproduced" in worse.reasons[0]
    better = parity({"accuracy": 0.99}, {"accuracy": 0.90}, 0.01)
    assert not better.passed and "held-out" in better.reasons[0]
    lower_is_better = parity({"log_loss": 0.1}, {"log_loss": 0.3}, 0.01)
    assert "better than claimed" in lower_is_better.reasons[0]


def test_parity_names_a_claim_baton_cannot_measure_and_skips_without_claims() -> None:
    v = parity({"accuracy": 0.9}, {"bleu": 0.3}, 0.01)
    assert not v.passed and "bleu is claimed" in v.reasons[0]
    assert not parity({"accuracy": None}, {"accuracy": 0.9}, 0.01).passed
    assert parity({"accuracy": 0.9}, {}, 0.01).skipped


def _delta(name: str, delta: float, half_width: float, base: float = 0.9) -> MetricDelta:
    return MetricDelta(name, base + delta, base, delta, delta - half_width, delta + half_width)


def test_regression_fails_only_a_drop_that_is_material_and_certain() -> None:
    policy = RegressionPolicy(max_drop=0.005)
    real = regression([_delta("accuracy", -0.05, 0.02)], ["accuracy"], policy)
    assert not real.passed and "a real drop" in real.reasons[0]
    noisy = regression([_delta("accuracy", -0.05, 0.08)], ["accuracy"], policy)
    assert noisy.passed and "within noise" in noisy.reasons[0]
    tiny = regression([_delta("accuracy", -0.002, 0.001)], ["accuracy"], policy)
    assert tiny.passed
    better = regression([_delta("accuracy", 0.03, 0.01)], ["accuracy"], policy)
    assert better.passed


def test_regression_respects_metric_direction_and_ignores_ungated_metrics() -> None:
    policy = RegressionPolicy()
    mae_up = MetricDelta("mae", 1.5, 1.0, 0.5, 0.3, 0.7)
    assert not regression([mae_up], ["mae"], policy).passed
    mae_down = MetricDelta("mae", 0.5, 1.0, -0.5, -0.7, -0.3)
    assert regression([mae_down], ["mae"], policy).passed
    assert regression([mae_up], ["accuracy"], policy).skipped


def test_regression_agreement_fails_only_below_the_policy_minimum() -> None:
    d = [_delta("accuracy", 0.0, 0.01)]
    assert regression(d, ["accuracy"], RegressionPolicy(), agreement=0.5).passed
    strict = RegressionPolicy(min_agreement=0.9)
    v = regression(d, ["accuracy"], strict, agreement=0.5)
    assert not v.passed and "agree with the baseline on 50.0%" in v.reasons[0]


@given(
    st.floats(-1, 1),
    st.floats(0, 1),
    st.sampled_from(["accuracy", "mae", "r2", "log_loss"]),
)
def test_regression_never_fails_an_improvement_nor_an_interval_touching_zero(
    delta: float, half_width: float, name: str
) -> None:
    d = MetricDelta(name, 0.0, 0.0, delta, delta - half_width, delta + half_width)
    v = regression([d], [name], RegressionPolicy(max_drop=0.0))
    gain, _low, high = d.gain
    if gain >= 0 or high >= 0:
        assert v.passed
    else:
        assert not v.passed


def test_sanity_catches_nans_bad_probabilities_and_out_of_range_outputs() -> None:
    policy = SanityPolicy()
    healthy = sanity(SanityFacts(100, 0, 1e-6, 0.0, (0.0, 1.0)), policy)
    assert healthy.passed
    nan = sanity(SanityFacts(100, 3, None), policy)
    assert not nan.passed and "3 of 100 output values are NaN or Inf" in nan.reasons[0]
    logits = sanity(SanityFacts(100, 0, 4.2), policy)
    assert not logits.passed and "do not sum to one" in logits.reasons[0]
    nan_sum = sanity(SanityFacts(100, 0, math.nan), policy)
    assert not nan_sum.passed
    wild = sanity(SanityFacts(100, 0, None, 0.3, (0.0, 1.0)), policy)
    assert not wild.passed and "30.00% of outputs" in wild.reasons[0]


def test_slo_shortfalls_and_the_cheapest_point_that_meets_it() -> None:
    slo = SLO(p99_latency_ms=10, min_throughput_rps=1000)
    assert slo_shortfalls(5, 2000, slo) == []
    assert len(slo_shortfalls(50, 10, slo)) == 2
    assert slo_shortfalls(None, None, None) == []
    points = [
        OperatingPoint("two-cores", 2, 0, 2.0, 9000),
        OperatingPoint("one-core-slow", 1, 0, 20.0, 9000),
        OperatingPoint("one-core", 1, 0, 3.0, 1500),
        OperatingPoint("one-core-faster", 1, 0, 3.0, 2500),
        OperatingPoint("int8-bad", 1, 0, 1.0, 9000, quality_ok=False),
        OperatingPoint("gpu", 0, 1, 1.0, 90000),
    ]
    chosen = cheapest_point(points, slo)
    assert chosen is not None and chosen.key == "one-core-faster"
    assert cheapest_point(points[:2], SLO(p99_latency_ms=1)) is None
    unconstrained = cheapest_point(points, None)
    assert unconstrained is not None and unconstrained.key == "one-core-slow"


def test_performance_verdicts() -> None:
    slo = SLO(p99_latency_ms=10)
    point = OperatingPoint("fp32 t1", 1, 0, 2.0, 500)
    assert performance(point, point, slo, require_slo=False).passed
    slow = OperatingPoint("fp32 t2", 2, 0, 30.0, 500)
    v = performance(None, slow, slo, require_slo=False)
    assert not v.passed and "p99 latency 30.00 ms > SLO 10 ms" in v.reasons[0]
    assert performance(None, None, None, require_slo=False).skipped
    assert not performance(None, None, None, require_slo=True).passed


def test_overall_fails_when_any_check_failed_and_names_it() -> None:
    good = Verdict(True, ("fine",))
    bad = Verdict(False, ("broken",))
    assert overall({"parity": good, "sanity": good}).passed
    v = overall({"parity": good, "sanity": bad})
    assert not v.passed and v.reasons == ("sanity: broken",)
    assert overall({"parity": Verdict(True, ("x",), skipped=True)}).reasons == ("passed no checks",)


def test_parity_never_prints_a_negative_zero() -> None:
    v = parity({"accuracy": 0.97779999}, {"accuracy": 0.9778}, 0.01)
    assert "difference +0.0000" in v.reasons[0]


def test_parity_reads_older_names_and_a_package_metric_direction() -> None:
    v = parity({"recall_at_5": 0.91}, {"recall_at_k": 0.9}, 0.02)
    assert v.passed and v.reasons[0].startswith("recall_at_k (now recall_at_5) 0.91")
    lower = parity({"team_loss": 0.1}, {"team_loss": 0.3}, 0.01, {"team_loss": False})
    assert "better than claimed" in lower.reasons[0]
    unknown = parity({"team_score": 0.1}, {"team_score": 0.3}, 0.01, {"team_score": None})
    assert "not reproduced" in unknown.reasons[0]
    missing = parity({"accuracy": 0.9}, {"recall_at_1": 0.3}, 0.01)
    assert "see `baton metrics`" in missing.reasons[0]


def test_a_delta_takes_its_direction_when_given() -> None:
    loss = MetricDelta("team_loss", 0.5, 1.0, -0.5, -0.7, -0.3, higher=False)
    assert loss.gain == (0.5, 0.3, 0.7)
    assert regression([loss], ["team_loss"], RegressionPolicy()).passed
    assert MetricDelta("mae", 1.5, 1.0, 0.5, 0.3, 0.7).higher_is_better is False
