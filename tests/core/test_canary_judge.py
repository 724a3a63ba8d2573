"""The canary judge on hand-made intervals: Kayenta's classifier cases (identical, constant,
clear high, clear low), the gates that keep huge samples from failing harmless differences,
the guardrails, no data, scoring and the record."""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from baton.core.canary_judge import (
    ERRORS,
    LATENCY,
    NONFINITE,
    OUTPUT,
    P99,
    SUCCESS_RATE,
    Histogram,
    IntervalCounts,
    JudgeConfig,
    MetricResult,
    OutputHistogram,
    VariantCounts,
    judge,
    score,
    unreadable,
)
from baton.core.metric_names import LATENCY_BUCKETS
from baton.errors import BadInput

BOUNDS = (*LATENCY_BUCKETS, math.inf)
OUT_BOUNDS = (0.1, 0.3, 0.5, 0.7, 0.9, math.inf)


def latency(*pairs: tuple[float, int]) -> Histogram:
    """A histogram with ``count`` requests in the bucket whose bound is ``le``."""
    counts = [0.0] * len(BOUNDS)
    for le, count in pairs:
        counts[BOUNDS.index(le)] += count
    return Histogram(BOUNDS, tuple(counts))


TYPICAL = latency((0.001, 50), (0.0025, 300), (0.005, 500), (0.01, 120), (0.02, 30))


def outputs(*shares: float, rows: int = 1000, name: str = "score") -> tuple[OutputHistogram, ...]:
    counts = tuple(float(round(s * rows)) for s in shares)
    return (OutputHistogram(name, Histogram(OUT_BOUNDS, counts)),)


EVEN = outputs(0.2, 0.2, 0.2, 0.2, 0.2, 0.0)


def variant(
    requests: float = 1000,
    errors: float = 2,
    hist: Histogram = TYPICAL,
    outs: tuple[OutputHistogram, ...] = EVEN,
    nonfinite: float | None = 0,
) -> VariantCounts:
    return VariantCounts(requests, errors, hist, outs, nonfinite)


def interval(canary: VariantCounts, baseline: VariantCounts | None = None) -> IntervalCounts:
    return IntervalCounts(canary, baseline or variant(), start=100.0, end=160.0)


# --- Kayenta's classifier cases -------------------------------------------------------


def test_identical_variants_pass_and_advance() -> None:
    verdict = judge(interval(variant()))
    assert [m.classification for m in verdict.metrics] == ["pass", "pass", "pass"]
    assert [g.classification for g in verdict.guardrails] == ["pass", "pass", "pass"]
    assert (verdict.decision, verdict.score, verdict.failed_check) == ("advance", 100.0, False)
    shift = verdict.metric(LATENCY)
    assert shift.estimate == pytest.approx(0, abs=1e-12)
    assert shift.ci is not None and shift.ci[0] < 0 < shift.ci[1]


def test_constant_series_pass() -> None:
    """Every request of both variants in one bucket: no evidence of any shift."""
    same = latency((0.005, 1000))
    verdict = judge(interval(variant(hist=same), variant(hist=same)))
    result = verdict.metric(LATENCY)
    assert (result.classification, result.estimate, result.statistic) == ("pass", 0.0, 0.0)
    assert verdict.decision == "advance"


def test_clearly_slower_canary_is_high_and_fails() -> None:
    slower = latency((0.01, 100), (0.02, 500), (0.025, 300), (0.05, 100))
    verdict = judge(interval(variant(hist=slower)))
    result = verdict.metric(LATENCY)
    assert result.classification == "high"
    assert result.ci is not None and result.threshold is not None
    assert result.ci[0] > result.threshold > 0
    assert result.p_value is not None and result.p_value < 1e-10
    assert (verdict.decision, verdict.score, verdict.failed_check) == ("fail", 70.0, True)
    assert "latency high" in verdict.reason


def test_clearly_faster_canary_is_low_which_latency_does_not_hold_against_it() -> None:
    faster = latency((0.0005, 400), (0.001, 500), (0.0025, 100))
    slow_base = latency((0.005, 300), (0.01, 500), (0.02, 200))
    verdict = judge(interval(variant(hist=faster), variant(hist=slow_base)))
    assert verdict.metric(LATENCY).classification == "low"
    assert verdict.decision == "advance"


def test_a_small_latency_shift_within_the_allowance_passes_however_many_requests() -> None:
    """A million requests a side, a few percent slower: significant, but allowed."""
    base = np.array(TYPICAL.counts) * 1000
    moved = base.copy()
    moved[5] -= 20_000  # 2.5 ms bucket -> 5 ms bucket: a 4 % shift of the mass
    moved[6] += 20_000
    canary = variant(1e6, 2000, Histogram(BOUNDS, tuple(moved)))
    baseline = variant(1e6, 2000, Histogram(BOUNDS, tuple(base)))
    result = judge(interval(canary, baseline)).metric(LATENCY)
    assert result.p_value is not None and result.p_value < 1e-6  # the test sees it
    assert result.classification == "pass"  # and the allowance keeps it from failing


def test_sub_millisecond_noise_cannot_fail() -> None:
    fast = latency((0.0001, 900), (0.00025, 100))
    slower = latency((0.0001, 100), (0.00025, 900))  # doubled, but by 0.1 ms
    result = judge(interval(variant(hist=slower), variant(hist=fast))).metric(LATENCY)
    assert result.threshold == pytest.approx(0.001)
    assert result.classification == "pass"


# --- errors ---------------------------------------------------------------------------


def test_more_5xx_beyond_the_minimum_effect_is_high() -> None:
    verdict = judge(interval(variant(errors=25), variant(errors=3)))
    result = verdict.metric(ERRORS)
    assert result.classification == "high"
    assert result.estimate == pytest.approx(0.022)
    assert result.p_value is not None and result.p_value < 0.005
    # 2.5 % errors is not yet proof of a success rate under 99 %... at p < 0.001 it is
    assert verdict.metric(SUCCESS_RATE).classification == "high"
    assert verdict.decision == "rollback"


def test_significant_but_tiny_error_difference_passes() -> None:
    """With a million requests 0.30 % against 0.15 % is significant, and harmless."""
    verdict = judge(interval(variant(1e6, 3000), variant(1e6, 1500)))
    result = verdict.metric(ERRORS)
    assert result.p_value is not None and result.p_value < 1e-10
    assert result.classification == "pass"
    assert "under +0.50%" in result.reason


def test_fewer_errors_is_never_high() -> None:
    assert (
        judge(interval(variant(errors=0), variant(errors=30))).metric(ERRORS).classification
        == "pass"
    )


# --- outputs --------------------------------------------------------------------------


def test_differently_distributed_outputs_are_high() -> None:
    shifted = outputs(0.05, 0.1, 0.15, 0.3, 0.4, 0.0)
    verdict = judge(interval(variant(outs=shifted)))
    result = verdict.metric(OUTPUT)
    assert result.classification == "high"
    assert result.parts[0].name == "output:score"
    assert result.effect is not None and result.effect > 0.02
    assert verdict.decision == "fail"


def test_a_tiny_output_difference_passes_however_many_rows() -> None:
    a = outputs(0.2, 0.2, 0.2, 0.2, 0.2, 0.0, rows=10_000_000)
    b = outputs(0.19, 0.2, 0.2, 0.2, 0.21, 0.0, rows=10_000_000)
    result = judge(interval(variant(outs=a), variant(outs=b))).metric(OUTPUT)
    # the test sees it: the smallest p-value its exact draws can give
    assert result.p_value is not None and result.p_value < JudgeConfig().output_alpha / 10
    assert result.classification == "pass"


def test_sparse_output_bins_are_pooled_and_equal_versions_pass() -> None:
    """40 rows over 100 bins a side, the same rows: the plain G-test on the bins as they
    are read p = 0.0008 here, under the level of 0.005, with a JS of 0.72 bits."""
    bounds = (*np.linspace(-3, 3, 99).tolist(), math.inf)
    rng = np.random.default_rng(67)
    shares = np.diff([0.0, *(NormalDist().cdf(e) for e in bounds[:-1]), 1.0])
    a, b = (tuple(map(float, rng.multinomial(40, shares))) for _ in range(2))
    sparse = (OutputHistogram("score", Histogram(bounds, a)),)
    other = (OutputHistogram("score", Histogram(bounds, b)),)
    config = JudgeConfig(min_requests=40)
    result = judge(interval(variant(40, 0, outs=sparse), variant(40, 0, outs=other)), config)
    part = result.metric(OUTPUT).parts[0]
    assert part.classification == "pass"
    assert "bins pooled to" in part.reason


def test_a_small_p_value_is_the_exact_one_and_says_how_many_tables() -> None:
    shifted = outputs(0.05, 0.1, 0.15, 0.3, 0.4, 0.0)
    part = judge(interval(variant(outs=shifted))).metric(OUTPUT).parts[0]
    assert part.p_value == pytest.approx(1 / 2001)  # level 0.005: 2,000 tables drawn
    assert "exact from 2000 tables" in part.reason


def test_outputs_binned_differently_are_no_data_and_say_why() -> None:
    other = (OutputHistogram("score", Histogram((0.2, 0.4, math.inf), (300.0, 300.0, 400.0))),)
    result = judge(interval(variant(outs=other))).metric(OUTPUT)
    assert result.classification == "nodata"
    assert "--output-bins-from" in result.reason


def test_outputs_are_compared_per_output_with_bonferroni() -> None:
    two = (*EVEN, *outputs(0.5, 0.5, 0, 0, 0, 0, name="other"))
    shifted = (*EVEN, *outputs(0.3, 0.7, 0, 0, 0, 0, name="other"))
    result = judge(interval(variant(outs=shifted), variant(outs=two))).metric(OUTPUT)
    assert [p.classification for p in result.parts] == ["pass", "high"]
    assert "other" in result.reason


# --- guardrails -----------------------------------------------------------------------


def test_one_5xx_among_fifty_is_not_yet_a_breach() -> None:
    few = VariantCounts(50, 1, None, (), 0)
    result = judge(interval(few)).metric(SUCCESS_RATE)
    assert result.estimate == pytest.approx(0.98)
    assert result.classification == "pass"


def test_p99_over_the_slo_rolls_back() -> None:
    slow_tail = latency((0.005, 900), (0.5, 50), (1.0, 50))
    verdict = judge(interval(variant(hist=slow_tail)))
    result = verdict.metric(P99)
    assert result.classification == "high" and result.critical
    assert result.estimate is not None and result.estimate > 0.5
    assert verdict.decision == "rollback" and verdict.score == 0


def test_a_p99_just_over_the_slo_by_chance_is_no_breach() -> None:
    """3 of 200 requests above the SLO is p99 above it, and well within chance at 1 %."""
    hist = latency((0.005, 197), (1.0, 3))
    result = judge(interval(variant(200, 0, hist))).metric(P99)
    assert result.estimate is not None and result.estimate > 0.5
    assert result.classification == "pass"


def test_any_nonfinite_output_rolls_back() -> None:
    verdict = judge(interval(variant(nonfinite=1)))
    assert verdict.metric(NONFINITE).classification == "high"
    assert verdict.decision == "rollback"
    assert "nonfinite" in verdict.reason


def test_guardrails_without_series_are_no_data() -> None:
    bare = VariantCounts(1000, 0, None, (), None)
    verdict = judge(interval(bare))
    assert verdict.metric(P99).classification == "nodata"
    assert verdict.metric(NONFINITE).classification == "nodata"


# --- no data, scoring and decisions ---------------------------------------------------


def test_too_few_requests_hold_without_a_failed_check() -> None:
    verdict = judge(interval(variant(requests=120)))
    assert verdict.metric(ERRORS).classification == "nodata"
    assert (verdict.decision, verdict.failed_check) == ("hold", False)
    assert "120 canary" in verdict.reason


def test_no_series_at_all_holds() -> None:
    verdict = judge(interval(VariantCounts(), VariantCounts()))
    assert verdict.decision == "hold"
    assert {m.classification for m in verdict.metrics} == {"nodata"}


def test_a_version_without_output_bins_can_still_advance() -> None:
    """Output no data (no drift reference): excluded like Kayenta's Nodata, 1 of 3 metrics."""
    verdict = judge(interval(variant(outs=()), variant(outs=())))
    assert verdict.metric(OUTPUT).classification == "nodata"
    assert (verdict.decision, verdict.score) == ("advance", 100.0)


def test_half_the_metrics_without_data_score_zero() -> None:
    config = JudgeConfig()
    nodata = MetricResult(OUTPUT, "nodata", "")
    results = [MetricResult(ERRORS, "pass", ""), MetricResult(LATENCY, "nodata", ""), nodata]
    assert score(results, config) == 0.0
    assert (
        score([MetricResult(ERRORS, "pass", ""), MetricResult(LATENCY, "pass", ""), nodata], config)
        == 100.0
    )


def test_marginal_score_holds_and_counts_a_failed_check() -> None:
    config = JudgeConfig(weights=((ERRORS, 45.0), (LATENCY, 45.0), (OUTPUT, 10.0)))
    shifted = outputs(0.05, 0.1, 0.15, 0.3, 0.4, 0.0)
    verdict = judge(interval(variant(outs=shifted)), config)
    assert (verdict.decision, verdict.score, verdict.failed_check) == ("hold", 90.0, True)


def test_a_metric_that_cannot_be_judged_is_an_error_and_fails() -> None:
    other = Histogram((0.01, math.inf), (500.0, 500.0))
    verdict = judge(interval(variant(hist=other)))
    assert verdict.metric(LATENCY).classification == "error"
    assert verdict.decision == "fail"


def test_unreadable_metrics_pause() -> None:
    verdict = unreadable("Prometheus at http://x is unreachable", 1.0, 2.0)
    assert (verdict.decision, verdict.failed_check) == ("pause", False)
    assert "unreachable" in verdict.reason


# --- the record and the configuration -------------------------------------------------


def test_the_record_keeps_every_number_and_is_strict_json() -> None:
    verdict = judge(interval(variant(outs=outputs(0.05, 0.1, 0.15, 0.3, 0.4, 0.0))))
    document = json.loads(json.dumps(verdict.to_json(), allow_nan=False))
    assert (document["start"], document["end"], document["decision"]) == (100.0, 160.0, "fail")
    names = [m["name"] for m in document["metrics"]] + [g["name"] for g in document["guardrails"]]
    assert names == [ERRORS, LATENCY, OUTPUT, SUCCESS_RATE, P99, NONFINITE]
    lat = document["metrics"][1]
    for key in (
        "n_canary",
        "n_baseline",
        "statistic",
        "p_value",
        "ci",
        "estimate",
        "effect",
        "threshold",
        "classification",
        "reason",
    ):
        assert lat[key] is not None, key
    assert document["metrics"][2]["parts"][0]["name"] == "output:score"


def test_open_intervals_are_written_as_text() -> None:
    tiny = VariantCounts(3, 0, latency((0.001, 1), (0.005, 2)), (), 0)
    config = JudgeConfig(min_requests=1)
    document = judge(interval(tiny, tiny), config).to_json()
    ci = document["metrics"][1]["ci"]  # type: ignore[index]
    assert "-inf" in ci or "inf" in ci


def test_profiles_and_bad_configurations() -> None:
    assert JudgeConfig.profile("production") == JudgeConfig()
    test = JudgeConfig.profile("test")
    assert test.min_requests == 30 and test.confidence == 0.98
    assert JudgeConfig.profile("test", p99_slo_s=0.1).p99_slo_s == 0.1
    with pytest.raises(BadInput, match="unknown judge profile"):
        JudgeConfig.profile("staging")  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="weights must add up to 100"):
        JudgeConfig(weights=((ERRORS, 50.0), (LATENCY, 30.0), (OUTPUT, 30.0)))
    with pytest.raises(BadInput, match="confidence"):
        JudgeConfig(confidence=1.0)
    with pytest.raises(BadInput, match="one count per bin"):
        Histogram((0.1, math.inf), (1.0,))
