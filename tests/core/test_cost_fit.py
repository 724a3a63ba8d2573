"""The CPU-per-request fit: it recovers a real cost and refuses flat, near-idle and noise."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from baton.core.cost_fit import MIN_T, cpu_cost_per_request


def _orthogonal(noise: list[float], rps: list[float]) -> list[float]:
    """``noise`` with its constant and its part along ``rps`` taken out: CPU the traffic
    does not explain at all."""
    n = len(rps)
    mx, me = sum(rps) / n, sum(noise) / n
    sxx = sum((x - mx) ** 2 for x in rps)
    beta = sum((x - mx) * (e - me) for x, e in zip(rps, noise, strict=True)) / sxx
    return [e - me - beta * (x - mx) for x, e in zip(rps, noise, strict=True)]


@given(st.floats(1e-5, 1e-2), st.floats(0, 0.5), st.integers(0, 2**16))
def test_recovers_the_planted_marginal_and_idle_cost(
    per_request: float, idle: float, seed: int
) -> None:
    rng = random.Random(seed)
    rps = [rng.uniform(10, 500) for _ in range(48)]
    fit = cpu_cost_per_request(rps, [idle + per_request * r for r in rps])
    assert fit.fitted, fit.reason
    assert fit.per_request == pytest.approx(per_request, rel=1e-6)
    assert fit.idle == pytest.approx(idle, rel=1e-6, abs=1e-9)


@given(
    st.floats(1e-4, 1e4),
    st.lists(st.floats(-0.09, 0.09), min_size=12, max_size=200),
    st.floats(0, 0.01),
)
def test_flat_traffic_gives_no_cost(mean: float, swings: list[float], per_request: float) -> None:
    """Traffic that varies by under 10% cannot separate per-request from idle CPU."""
    rps = [mean * (1 + s) for s in swings]
    fit = cpu_cost_per_request(rps, [0.05 + per_request * r for r in rps])
    assert not fit.fitted
    assert "too flat" in fit.reason


@given(
    st.lists(st.integers(0, 6), min_size=48, max_size=400),
    st.floats(0.0, 2.0),
    st.floats(1e-4, 0.05),
    st.integers(0, 2**16),
)
def test_near_idle_noise_gives_no_cost(
    arrivals: list[int], idle: float, noise: float, seed: int
) -> None:
    """A few requests per 5 minutes and CPU that does not follow them: no cost, whatever
    the noise (the case that read as "one replica cannot meet p99 at any load")."""
    rps = [a / 300 for a in arrivals]
    assume(len(set(rps)) > 1)
    rng = random.Random(seed)
    jitter = _orthogonal([rng.gauss(0, noise) for _ in rps], rps)
    fit = cpu_cost_per_request(rps, [max(idle + 2 * noise, 0) + e for e in jitter])
    assert not fit.fitted, fit
    assert fit.t is None or fit.t < MIN_T


def test_perfectly_flat_cpu_has_no_slope() -> None:
    rps = [0.01 * (i % 5) for i in range(60)]
    fit = cpu_cost_per_request(rps, [0.05] * 60)
    assert not fit.fitted
    assert "does not follow the traffic" in fit.reason


@given(
    st.lists(st.floats(1, 500), min_size=12, max_size=200),
    st.floats(1e-5, 1e-2),
    st.floats(0, 1),
    st.floats(1e-6, 0.05),
    st.integers(0, 2**16),
)
def test_noisy_cpu_bounds_the_error_and_fits_when_the_signal_is_clear(
    rps: list[float], per_request: float, idle: float, noise: float, seed: int
) -> None:
    """CPU = idle + cost x traffic + noise within +-noise: a fitted slope is off by at most
    what the noise can move it, and a signal clearly above the noise is always fitted."""
    n = len(rps)
    mx = sum(rps) / n
    sxx = sum((x - mx) ** 2 for x in rps)
    assume(math.sqrt(sxx / n) / mx >= 0.1)
    rng = random.Random(seed)
    cpu = [noise + idle + per_request * x + rng.uniform(-noise, noise) for x in rps]
    fit = cpu_cost_per_request(rps, cpu)
    moved = noise * sum(abs(x - mx) for x in rps) / sxx  # the most noise moves the slope
    if fit.fitted:
        assert fit.per_request is not None
        assert abs(fit.per_request - per_request) <= moved * (1 + 1e-6) + 1e-12
    se_most = noise * math.sqrt(n / (n - 2) / sxx)
    if (per_request - moved) / se_most >= MIN_T * 1.01:
        assert fit.fitted, fit.reason


def test_too_few_samples_say_so() -> None:
    fit = cpu_cost_per_request([1.0, 2.0], [0.1, 0.2])
    assert not fit.fitted
    assert "only 2 samples" in fit.reason
