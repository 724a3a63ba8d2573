"""The judge's error rates on simulated intervals (no processes, a seeded RNG).

Each interval is what Prometheus would hand the judge: 200 to 2,000 requests a variant
(the two split a total at random, as a router does), their 5xx counts, their latencies
in the server's own buckets (``core.metric_names.LATENCY_BUCKETS``) and three outputs'
decile bins. Latency is log-normal with a median of 2, 5, 20 or 80 ms and a spread of 0.25
or 0.5; outputs are a normal score binned at the reference's deciles.

- Equal versions: the judge fails (fail or rollback) at most 2 % of 1,000 intervals.
- Planted shifts are caught in at least 95 % of intervals. They are the harmful sizes, not
  the gates themselves: a version exactly at a gate (+0.5 pp of errors, latency at the
  allowed increase) is *allowed*, so the judge fails it rarely by design (the gate is on
  the interval's lower bound for latency, on the observed difference for errors). What it
  must catch within one interval is a shift a few times the gate: +2 pp of errors with
  1,000 to 2,000 requests (+5 pp with 200 to 1,000), latency three times the allowance
  (3 x max(10 % of the median, 1 ms)), and outputs moved by a Jensen-Shannon divergence of
  0.03, 1.5 times the minimum effect.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist

import numpy as np
import pytest

from baton.core.canary_judge import (
    ERRORS,
    LATENCY,
    OUTPUT,
    Histogram,
    IntervalCounts,
    JudgeConfig,
    OutputHistogram,
    VariantCounts,
    Verdict,
    judge,
)
from baton.core.judge_stats import js_divergence
from baton.core.metric_names import LATENCY_BUCKETS

BOUNDS = (*LATENCY_BUCKETS, math.inf)
DECILES = tuple(NormalDist().inv_cdf(i / 10) for i in range(1, 10))
OUT_BOUNDS = (*DECILES, math.inf)
BASE_ERRORS = 0.003
MEDIANS = (0.002, 0.005, 0.02, 0.08)
SPREADS = (0.25, 0.5)


def output_shares(delta: float, edges: tuple[float, ...] = DECILES) -> np.ndarray:
    """Shares of a N(delta, 1) score in the bins cut at ``edges`` (the deciles of N(0, 1))."""
    cdf = [0.0, *(NormalDist(delta, 1).cdf(e) for e in edges), 1.0]
    return np.diff(cdf)


@cache
def shift_for_js(target: float, edges: tuple[float, ...] = DECILES) -> float:
    """The score shift whose binned distribution lies ``target`` bits (JS) from N(0, 1)."""
    low, high = 0.0, 3.0
    for _ in range(60):
        mid = (low + high) / 2
        if js_divergence(output_shares(0, edges), output_shares(mid, edges)) < target:
            low = mid
        else:
            high = mid
    return high


@dataclass(frozen=True)
class Version:
    """How one variant behaves in an interval."""

    errors: float = BASE_ERRORS
    latency_ratio: float = 1.0
    output_shift: float = 0.0


@dataclass(frozen=True)
class Scene:
    """An interval's shared conditions: traffic, the model's latency, its outputs."""

    requests: int
    median: float
    spread: float
    output_center: float
    output_edges: tuple[float, ...] = DECILES


def observe(rng: np.random.Generator, scene: Scene, n: int, version: Version) -> VariantCounts:
    seconds = scene.median * version.latency_ratio * np.exp(scene.spread * rng.normal(size=n))
    buckets = np.searchsorted(np.array(BOUNDS), seconds, side="left")
    latency = Histogram(
        BOUNDS, tuple(float(c) for c in np.bincount(buckets, minlength=len(BOUNDS)))
    )
    shares = output_shares(scene.output_center + version.output_shift, scene.output_edges)
    bounds = (*scene.output_edges, math.inf)
    outputs = tuple(
        OutputHistogram(
            f"probabilities[{i}]",
            Histogram(bounds, tuple(float(c) for c in rng.multinomial(n, shares))),
        )
        for i in range(3)
    )
    errors = float(rng.binomial(n, version.errors))
    return VariantCounts(float(n), errors, latency, outputs, 0.0)


Planted = Callable[[Scene], Version]


def simulate(
    planted: Planted,
    intervals: int,
    seed: int,
    requests: tuple[int, int] = (200, 2000),
    config: JudgeConfig | None = None,
    output_bins: tuple[int, ...] = (),
) -> list[Verdict]:
    """The verdicts over ``intervals`` simulated intervals, canary planted as told; with
    ``output_bins``, each interval's outputs are binned into one of those numbers of equal
    bins over [-3, 3] (sparse and skewed: the tails' bins hold next to nothing)."""
    rng = np.random.default_rng(seed)
    config = config or JudgeConfig()
    verdicts = []
    for _ in range(intervals):
        edges = DECILES
        if output_bins:
            edges = tuple(np.linspace(-3, 3, int(rng.choice(output_bins)) - 1).tolist())
        scene = Scene(
            int(rng.integers(*requests, endpoint=True)),
            float(rng.choice(MEDIANS)),
            float(rng.choice(SPREADS)),
            float(rng.uniform(-1, 1)),
            edges,
        )
        baseline_n = int(rng.binomial(2 * scene.requests, 0.5))
        canary_n = 2 * scene.requests - baseline_n
        canary = observe(rng, scene, canary_n, planted(scene))
        baseline = observe(rng, scene, baseline_n, Version())
        verdicts.append(judge(IntervalCounts(canary, baseline), config))
    return verdicts


def run(
    planted: Planted, intervals: int, seed: int, requests: tuple[int, int] = (200, 2000)
) -> list[str]:
    """The decisions over ``intervals`` simulated intervals, canary planted as told."""
    return [v.decision for v in simulate(planted, intervals, seed, requests)]


def share(decisions: list[str], *which: str) -> float:
    return sum(d in which for d in decisions) / len(decisions)


def test_equal_versions_fail_at_most_two_percent() -> None:
    decisions = run(lambda scene: Version(), 1000, seed=1)
    assert share(decisions, "fail", "rollback") <= 0.02
    assert share(decisions, "advance") >= 0.95  # the rest hold: a variant under 200 requests


def latency_three_allowances(scene: Scene) -> Version:
    config = JudgeConfig()
    allowed = max((config.latency_allowed_ratio - 1) * scene.median, config.latency_floor_s)
    return Version(latency_ratio=1 + 3 * allowed / scene.median)


@pytest.mark.parametrize(
    ("planted", "requests", "metric"),
    [
        (lambda scene: Version(errors=BASE_ERRORS + 0.02), (1000, 2000), ERRORS),
        (lambda scene: Version(errors=BASE_ERRORS + 0.05), (200, 1000), ERRORS),
        (latency_three_allowances, (200, 2000), LATENCY),
        (lambda scene: Version(output_shift=shift_for_js(0.03)), (200, 2000), OUTPUT),
    ],
    ids=["errors+2pp", "errors+5pp-small", "latency-3x-allowed", "output-js0.03"],
)
def test_planted_shifts_are_caught(
    planted: Planted, requests: tuple[int, int], metric: str
) -> None:
    decisions = run(planted, 400, seed=2, requests=requests)
    assert share(decisions, "fail", "rollback") >= 0.95, metric


def test_a_shift_at_the_gate_is_allowed_most_of_the_time() -> None:
    """The other side of the gates: +0.5 pp of errors and exactly the allowed latency
    increase are what the configuration allows, so most such intervals pass."""

    def at_gates(scene: Scene) -> Version:
        config = JudgeConfig()
        allowed = max((config.latency_allowed_ratio - 1) * scene.median, config.latency_floor_s)
        return Version(
            errors=BASE_ERRORS + config.error_min_effect, latency_ratio=1 + allowed / scene.median
        )

    decisions = run(at_gates, 300, seed=3)
    assert share(decisions, "advance") >= 0.5


# --- sparse output bins ---------------------------------------------------------------

SPARSE = JudgeConfig(min_requests=20)  # judge intervals of 20 rows a side
SPARSE_BINS = (50, 100, 200)


def test_equal_versions_on_sparse_output_bins_fail_the_output_metric_at_most_its_level() -> None:
    """50 to 200 output bins and 20 to 500 rows a side: most bins expect under one row,
    where the chi-square approximation of the G-test ran 10 times its level (p too small)
    and the JS gate did not help (the JS of so few rows over so many bins is large)."""
    verdicts = simulate(lambda scene: Version(), 1000, 4, (20, 500), SPARSE, SPARSE_BINS)
    output_high = sum(v.metric(OUTPUT).classification == "high" for v in verdicts)
    # A valid test at level 0.005 fails Binomial(1000, 0.005) times: 5 on average, and 14 or
    # more with probability under 0.001. Seeds 4-10 gave 3, 2, 8, 5, 6, 1, 3 (0.40 %); the
    # plain G-test before pooling gave 126.
    assert output_high < 14
    assert share([v.decision for v in verdicts], "fail", "rollback") <= 0.02


def test_output_shifts_on_sparse_bins_are_still_caught() -> None:
    """A score moved by 0.03 bits (JS over the fine bins, 1.5 times the minimum effect),
    from 500 rows a side: pooling and the exact p-value cost no power there. (From 200 to
    500 rows a side three in four such intervals are caught: fewer rows cannot show so
    small a shift at the output level.)"""

    def shifted(scene: Scene) -> Version:
        return Version(output_shift=shift_for_js(0.03, scene.output_edges))

    verdicts = simulate(shifted, 100, 2, (500, 1000), SPARSE, SPARSE_BINS)
    assert share([v.metric(OUTPUT).classification for v in verdicts], "high") >= 0.95
    assert share([v.decision for v in verdicts], "fail", "rollback") >= 0.95
