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


def output_shares(delta: float) -> np.ndarray:
    """Shares of a N(delta, 1) score in the deciles of N(0, 1)."""
    cdf = [0.0, *(NormalDist(delta, 1).cdf(e) for e in DECILES), 1.0]
    return np.diff(cdf)


def shift_for_js(target: float) -> float:
    """The score shift whose binned distribution lies ``target`` bits (JS) from N(0, 1)."""
    low, high = 0.0, 3.0
    for _ in range(60):
        mid = (low + high) / 2
        if js_divergence(output_shares(0), output_shares(mid)) < target:
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


def observe(rng: np.random.Generator, scene: Scene, n: int, version: Version) -> VariantCounts:
    seconds = scene.median * version.latency_ratio * np.exp(scene.spread * rng.normal(size=n))
    buckets = np.searchsorted(np.array(BOUNDS), seconds, side="left")
    latency = Histogram(
        BOUNDS, tuple(float(c) for c in np.bincount(buckets, minlength=len(BOUNDS)))
    )
    shares = output_shares(scene.output_center + version.output_shift)
    outputs = tuple(
        OutputHistogram(
            f"probabilities[{i}]",
            Histogram(OUT_BOUNDS, tuple(float(c) for c in rng.multinomial(n, shares))),
        )
        for i in range(3)
    )
    errors = float(rng.binomial(n, version.errors))
    return VariantCounts(float(n), errors, latency, outputs, 0.0)


Planted = Callable[[Scene], Version]


def run(
    planted: Planted, intervals: int, seed: int, requests: tuple[int, int] = (200, 2000)
) -> list[str]:
    """The decisions over ``intervals`` simulated intervals, canary planted as told."""
    rng = np.random.default_rng(seed)
    config = JudgeConfig()
    decisions = []
    for _ in range(intervals):
        scene = Scene(
            int(rng.integers(*requests, endpoint=True)),
            float(rng.choice(MEDIANS)),
            float(rng.choice(SPREADS)),
            float(rng.uniform(-1, 1)),
        )
        baseline_n = int(rng.binomial(2 * scene.requests, 0.5))
        canary_n = 2 * scene.requests - baseline_n
        canary = observe(rng, scene, canary_n, planted(scene))
        baseline = observe(rng, scene, baseline_n, Version())
        decisions.append(judge(IntervalCounts(canary, baseline), config).decision)
    return decisions


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
