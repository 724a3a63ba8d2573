from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from baton.core.sizing import (
    GIB,
    Allocation,
    Capacity,
    Prices,
    SizingPolicy,
    Usage,
    cheapest,
    load_at_slo,
    recommend,
    replicas_needed,
)

CPU = Capacity(saturation_rps=2000, cores=1, memory_bytes=0.5 * GIB)
CURVE = Capacity(
    saturation_rps=2000, cores=1, memory_bytes=0.5 * GIB,
    curve=((100, 2.0), (500, 3.0), (1000, 6.0), (1500, 15.0), (2000, 80.0)),
)  # fmt: skip
ALLOC = Allocation(replicas=4, cores=1, memory_bytes=1 * GIB)


def usage(peak: float, **kw: float) -> Usage:
    return Usage(rps_mean=peak / 2, rps_p95=peak * 0.8, rps_peak=peak, **kw)


def test_queue_model_leaves_room_below_saturation() -> None:
    per = load_at_slo(CPU, 20)
    assert per == pytest.approx(2000 - math.log(100) / 0.02)
    assert per < CPU.saturation_rps


def test_curve_gives_the_largest_load_within_the_slo() -> None:
    assert load_at_slo(CURVE, 10) == 1000
    assert load_at_slo(CURVE, 15) == 1500
    assert load_at_slo(CURVE, 1) == 0


def test_curve_latency_is_read_as_never_improving_with_load() -> None:
    noisy = Capacity(2000, curve=((100, 5.0), (500, 30.0), (1000, 8.0)))
    assert load_at_slo(noisy, 10) == 100


@pytest.mark.parametrize(
    ("use", "verdict"),
    [
        (Usage(coverage=0.2, rps_peak=100), "insufficient data"),
        (Usage(rps_peak=None), "insufficient data"),
        (usage(0.001), "idle"),
        (usage(3500, p99_latency_ms=9.0), "at risk"),  # 3500 / (4 x 1000) > 80%
        (usage(500, p99_latency_ms=25.0), "at risk"),  # SLO already breached
        (usage(3100, p99_latency_ms=6.0), "under-provisioned"),  # 78%: short of headroom
        (usage(200, p99_latency_ms=3.0), "over-provisioned"),
    ],
)
def test_verdicts(use: Usage, verdict: str) -> None:
    rec = recommend(use, ALLOC, CURVE, slo_p99_ms=10)
    assert rec.verdict == verdict, rec.reasons
    assert rec.reasons


def test_right_sized() -> None:
    alloc = Allocation(replicas=2, cores=1, memory_bytes=0.5 * GIB * 1.15)
    rec = recommend(usage(1000, p99_latency_ms=5.0), alloc, CURVE, slo_p99_ms=10)
    assert rec.verdict == "right-sized", rec.reasons
    assert rec.replicas == 2


def test_cannot_meet_the_slo_at_any_load_is_at_risk() -> None:
    rec = recommend(usage(100), ALLOC, CURVE, slo_p99_ms=1)
    assert rec.verdict == "at risk"
    assert "cannot meet p99 1 ms at any load" in rec.reasons[0]


def test_missing_profile_is_insufficient_data_not_a_guess() -> None:
    rec = recommend(usage(100), ALLOC, None, slo_p99_ms=10)
    assert rec.verdict == "insufficient data"
    assert rec.replicas is None
    assert "baton evaluate" in rec.reasons[0]


def test_costs_and_baseline() -> None:
    rec = recommend(
        usage(200, cpu_cores_p95=0.3, memory_peak_bytes=0.4 * GIB), ALLOC, CURVE, slo_p99_ms=10
    )
    prices = Prices()
    assert rec.monthly_cost_now == pytest.approx(prices.monthly(4, 1, GIB, 0, "cpu"))
    assert rec.replicas == 2
    assert rec.monthly_savings > 0
    assert rec.baseline_cpu_request == 0.3
    assert rec.baseline_memory_request == pytest.approx(0.4 * GIB * 1.15)
    assert rec.cost_per_million_now is not None
    assert rec.cost_per_million_after is not None
    assert rec.cost_per_million_after < rec.cost_per_million_now


def test_cheapest_hardware_wins_and_idle_gpu_moves_to_cpu() -> None:
    gpu = Capacity(saturation_rps=20000, cores=4, memory_bytes=4 * GIB, gpus=1,
                   hardware="nvidia-t4")  # fmt: skip
    alloc = Allocation(replicas=2, cores=4, memory_bytes=8 * GIB, gpus=1, hardware="nvidia-t4")
    chosen, rec = cheapest(usage(300, gpu_utilization_mean=0.05), alloc, [gpu, CURVE], 10)
    assert chosen is CURVE
    assert rec.monthly_savings > 0


@given(st.floats(0.02, 50_000), st.floats(0.02, 50_000))
def test_more_traffic_never_yields_fewer_replicas(a: float, b: float) -> None:
    low, high = sorted((a, b))
    for cap in (CPU, CURVE):
        r_low = recommend(usage(low), ALLOC, cap, slo_p99_ms=12).replicas
        r_high = recommend(usage(high), ALLOC, cap, slo_p99_ms=12).replicas
        assert r_low is not None and r_high is not None
        assert r_low <= r_high


@given(st.floats(0.5, 500), st.floats(0.5, 500))
def test_a_tighter_slo_never_yields_less_capacity(a: float, b: float) -> None:
    tight, loose = sorted((a, b))
    for cap in (CPU, CURVE):
        assert load_at_slo(cap, tight) <= load_at_slo(cap, loose)
        per_tight, per_loose = load_at_slo(cap, tight), load_at_slo(cap, loose)
        assume(per_tight > 0)
        policy = SizingPolicy()
        assert replicas_needed(800, per_tight, policy) >= replicas_needed(800, per_loose, policy)


@given(st.floats(0.0, 1e6), st.floats(1, 1e5), st.floats(0, 2), st.integers(1, 5))
def test_replicas_cover_the_peak_with_headroom(peak: float, per: float, headroom: float,
                                               floor: int) -> None:  # fmt: skip
    policy = SizingPolicy(headroom=headroom, min_replicas=floor)
    n = replicas_needed(peak, per, policy)
    assert n >= floor
    assert n * per >= peak * (1 + headroom) * (1 - 1e-9)
