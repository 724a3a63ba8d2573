"""Right-sizing: verdicts, sizing and cost, each with its reasons."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.pricing import GIB, Prices
from baton.core.rightsizing import cheapest_hardware, recommend
from baton.core.sizing import Allocation, Capacity, ObservedUsage, load_at_slo
from tests.core.test_sizing import ALLOC, CPU, CURVE, usage


@pytest.mark.parametrize(
    ("use", "verdict"),
    [
        (ObservedUsage(coverage=0.2, rps_peak=100), "insufficient data"),
        (ObservedUsage(rps_peak=None), "insufficient data"),
        (usage(0.001), "idle"),
        (usage(3500, p99_latency_ms=9.0), "at risk"),  # 3500 / (4 x 1000) > 80%
        (usage(500, p99_latency_ms=25.0), "at risk"),  # SLO already breached
        (usage(3100, p99_latency_ms=6.0), "under-provisioned"),  # 78%: short of headroom
        (usage(200, p99_latency_ms=3.0), "over-provisioned"),
    ],
)
def test_verdicts(use: ObservedUsage, verdict: str) -> None:
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
    chosen, rec = cheapest_hardware(usage(300, gpu_utilization_mean=0.05), alloc, [gpu, CURVE], 10)
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


def test_a_load_test_at_the_slo_is_taken_as_measured() -> None:
    measured = Capacity(saturation_rps=5000, cores=2, at_slo_rps=700)
    assert load_at_slo(measured, 10) == 700
    rec = recommend(usage(1000), ALLOC, measured, slo_p99_ms=10)
    assert rec.replicas == 2  # 1000 x 1.3 / 700
    assert "measured at the SLO" in rec.reasons[0]


def test_a_trickle_on_a_big_replica_is_flagged_for_consolidation() -> None:
    rec = recommend(usage(5), ALLOC, CURVE, slo_p99_ms=10)
    assert "consolidate" in rec.flags
    assert rec.verdict == "over-provisioned"


def test_idle_is_flagged_for_scale_to_zero() -> None:
    rec = recommend(usage(0.001), ALLOC, CURVE, slo_p99_ms=10)
    assert rec.flags == ("scale to zero",)
    assert rec.monthly_cost_after == 0


def test_autoscaled_bounds_follow_the_load_and_cost_the_mean() -> None:
    alloc = Allocation(replicas=3, cores=1, memory_bytes=GIB, min_replicas=2, max_replicas=20,
                       mean_replicas=6.0)  # fmt: skip
    night, day = [100.0] * 12, [2400.0] * 12
    rec = recommend(usage(2400), alloc, CURVE, slo_p99_ms=10, load_series=night + day)
    assert (rec.min_replicas, rec.max_replicas) == (2, 4)  # 2400 x 1.3 / 1000 -> 4
    prices = Prices()
    assert rec.monthly_cost_now == pytest.approx(prices.monthly(6.0, 1, GIB, 0, "cpu"))
    assert rec.monthly_cost_after == pytest.approx(
        prices.monthly(3.0, 1, 0.5 * GIB * 1.15, 0, "cpu")
    )
    assert rec.verdict == "over-provisioned"
    assert any("autoscaled" in r for r in rec.reasons)


def test_an_autoscaler_capped_below_the_peak_is_under_provisioned() -> None:
    alloc = Allocation(replicas=2, cores=1, memory_bytes=GIB, min_replicas=2, max_replicas=3)
    rec = recommend(usage(2350), alloc, CURVE, slo_p99_ms=10, load_series=[2350.0] * 4)
    assert rec.verdict == "under-provisioned", rec.reasons  # 78% of 3 replicas at the SLO
    assert rec.max_replicas == 4  # 2350 x 1.3 / 1000 -> 4
    rec = recommend(usage(2500), alloc, CURVE, slo_p99_ms=10, load_series=[2500.0] * 4)
    assert rec.verdict == "at risk"  # 2500 / 3000 > 80%


def test_a_breach_without_load_says_replicas_will_not_fix_it() -> None:
    rec = recommend(usage(500, p99_latency_ms=25.0), ALLOC, CURVE, slo_p99_ms=10)
    assert rec.verdict == "at risk"
    assert any("not from load" in r for r in rec.reasons)
    hot = recommend(usage(3500, p99_latency_ms=25.0), ALLOC, CURVE, slo_p99_ms=10)
    assert not any("not from load" in r for r in hot.reasons)


T4 = Capacity(saturation_rps=3000, cores=4, memory_bytes=2 * GIB, gpus=1, hardware="nvidia-t4")


def test_the_availability_floor_adds_no_gpu_on_its_own() -> None:
    one = Allocation(replicas=1, cores=4, memory_bytes=16 * GIB, gpus=1, hardware="nvidia-t4")
    rec = recommend(usage(5), one, T4, slo_p99_ms=100)
    assert rec.replicas == 1
    assert rec.verdict != "under-provisioned"
    assert rec.monthly_cost_after is not None and rec.monthly_cost_now is not None
    assert rec.monthly_cost_after <= rec.monthly_cost_now
    assert any("does not add GPUs on its own" in r for r in rec.reasons)
    # load that needs a second GPU still gets it
    busy = recommend(usage(2500), one, T4, slo_p99_ms=100)
    assert busy.replicas == 2 and busy.verdict == "at risk"


def test_a_cpu_request_far_above_use_follows_use_and_keeps_the_limit() -> None:
    """0.04 cores at p95 on a 4-core replica: request from use, limit 4 (issue 14, item 7)."""
    four = Capacity(saturation_rps=2000, cores=4, at_slo_rps=1000)
    alloc = Allocation(replicas=2, cores=4, memory_bytes=GIB)
    rec = recommend(usage(50, cpu_cores_p95=0.04), alloc, four, slo_p99_ms=10)
    assert rec.cores == pytest.approx(0.06)  # 0.04 x 1.3, up to 10 millicores
    assert rec.cpu_limit == 4
    assert any("CPU request 0.06 cores from use" in r for r in rec.reasons)
    assert rec.verdict == "over-provisioned"
    # use near the configuration keeps it, as request and limit
    busy = recommend(usage(50, cpu_cores_p95=2.5), alloc, four, slo_p99_ms=10)
    assert busy.cores == 4 and busy.cpu_limit is None
