"""The capacity model: load one replica takes at the SLO, replicas for a peak, autoscaling."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from baton.core.cpu_request import cpu_request_from_use
from baton.core.pricing import GIB
from baton.core.sizing import (
    Allocation,
    Capacity,
    ObservedUsage,
    SizingPolicy,
    autoscale_replicas,
    load_at_slo,
    replicas_needed,
)

CPU = Capacity(saturation_rps=2000, cores=1, memory_bytes=0.5 * GIB)
CURVE = Capacity(
    saturation_rps=2000, cores=1, memory_bytes=0.5 * GIB,
    curve=((100, 2.0), (500, 3.0), (1000, 6.0), (1500, 15.0), (2000, 80.0)),
)  # fmt: skip
ALLOC = Allocation(replicas=4, cores=1, memory_bytes=1 * GIB)


def usage(peak: float, **kw: float) -> ObservedUsage:
    return ObservedUsage(rps_mean=peak / 2, rps_p95=peak * 0.8, rps_peak=peak, **kw)


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


@given(
    st.lists(st.floats(0, 5000), min_size=1, max_size=50),
    st.floats(0, 1000),
    st.floats(1, 2000),
)
def test_autoscaling_never_needs_fewer_replicas_when_load_grows(
    loads: list[float], extra: float, per: float
) -> None:
    policy = SizingPolicy()
    low, high, mean = autoscale_replicas(loads, per, policy)
    low2, high2, mean2 = autoscale_replicas([x + extra for x in loads], per, policy)
    assert policy.min_replicas <= low <= mean <= high
    assert (low, high) <= (low2, high2) and mean <= mean2 + 1e-9


@given(st.floats(0, 64), st.floats(1, 64), st.floats(1, 64), st.floats(0.25, 64), st.floats(0, 2))
def test_a_request_from_use_covers_use_and_stays_under_the_configuration(
    p95: float, now: float, after: float, configured: float, headroom: float
) -> None:
    request = cpu_request_from_use(p95, now, after, configured, headroom)
    if request is not None:
        assert request >= p95 * max(1.0, now / after) * (1 + headroom) - 1e-9
        assert request >= 0.01
        assert request < configured
