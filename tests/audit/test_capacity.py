"""Where a replica's capacity comes from: load test, served cost, profile, or nothing."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from baton.audit.capacity import MIN_REQUESTS, ServedCost, capacity_for, profiled, served_cost
from baton.audit.observed import Observed, Series
from baton.core.inventory import CapacityOption, Deployment, Resources, Serving
from baton.core.pricing import GIB
from baton.core.refs import Ref
from baton.core.sizing import ObservedUsage, load_at_slo
from baton.evaluate.service import evaluate
from baton.examples.digits import NAME
from baton.handover.register import register_handover
from baton.store.store import Store

DEPLOYED = Deployment(
    name="d", model=NAME, version="1", replicas=2,
    resources=Resources(cores=2, memory_bytes=GIB),
)  # fmt: skip
SLO = 100.0


def observed(rps: list[float], cpu: list[float], replicas: float = 2.0, **kw: object) -> Observed:
    ts = tuple(float(i * 60) for i in range(len(rps)))
    timeline = {
        "rps": Series(ts, tuple(rps)),
        "cpu": Series(ts, tuple(cpu)),
        "replicas": Series(ts, (replicas,) * len(rps)),
    }
    requests = sum(rps) * 60
    return Observed(ObservedUsage(rps_peak=max(rps)), requests=requests, timeline=timeline, **kw)  # type: ignore[arg-type]


def varying(per_request: float, idle: float, n: int = 48) -> Observed:
    """Deployment-wide req/s swinging 20..380, and per-replica CPU that follows it exactly."""
    rps = [200 + 180 * math.sin(i / 4) for i in range(n)]
    return observed(rps, [idle + per_request * r / 2 for r in rps])


def test_a_load_test_in_the_inventory_wins() -> None:
    d = DEPLOYED.model_copy(update={"capacity": (
        CapacityOption(cores=2, rps_at_slo=300),
        CapacityOption(hardware="nvidia-t4", cores=4, gpus=1, rps_at_slo=4000),
    )})  # fmt: skip
    found = capacity_for(d, varying(0.001, 0.05), None, SLO)
    assert [o.hardware for o in found.options] == ["cpu", "nvidia-t4"]
    assert load_at_slo(found.options[0], 10) == 300
    assert "load test" in found.source


def test_the_served_cost_separates_idle_from_per_request_cost() -> None:
    found = capacity_for(DEPLOYED, varying(0.004, 0.1), None, SLO)
    (option,) = found.options
    assert option.saturation_rps == pytest.approx((2 - 0.1) / 0.004, rel=1e-3)
    assert "served cost 4 ms CPU per request x 2 core(s)" in found.source


def test_workers_bound_the_parallelism_of_a_python_server() -> None:
    d = DEPLOYED.model_copy(update={"serving": Serving(workers=1)})
    (option,) = capacity_for(d, varying(0.004, 0.0), None, SLO).options
    assert option.saturation_rps == pytest.approx(1 / 0.004, rel=1e-3)


def test_too_few_requests_say_nothing_of_the_cost() -> None:
    quiet = observed([0.01] * 48, [0.05] * 48)
    assert (quiet.requests or 0) < MIN_REQUESTS
    assert served_cost(quiet)[0] is None
    assert capacity_for(DEPLOYED, quiet, None, SLO).options == ()


def test_steady_traffic_falls_back_to_the_whole_cost_per_request() -> None:
    steady = observed([100.0] * 48, [0.3] * 48, cpu_seconds_per_request=0.006)
    cost, why = served_cost(steady)
    assert cost == ServedCost(0.006, 0.0, whole=True)
    assert "too flat" in why


@pytest.fixture
def evaluated(store: Store, digits_source: Path) -> Store:
    number = register_handover(store, digits_source, actor="research").version.number
    evaluate(store, Ref(NAME, number), actor="ci", mode="quick")
    return store


def test_the_profile_gives_slo_curve_and_caps_the_served_estimate(evaluated: Store) -> None:
    prof = profiled(evaluated, NAME, "1")
    assert prof is not None
    assert prof.throughput_rps and prof.throughput_rps > 0
    assert prof.curve and all(p99 > 0 for _, p99 in prof.curve)
    alone = capacity_for(DEPLOYED, None, prof, SLO)
    assert "evaluation profile" in alone.source and alone.options[0].curve == prof.curve
    # a served cost far cheaper than the model's in-process ceiling is capped by it
    cheap = capacity_for(DEPLOYED, varying(1e-9, 0.0), prof, SLO)
    assert cheap.options[0].saturation_rps == prof.throughput_rps
    assert "capped by the profile" in cheap.source


def test_unknown_versions_have_no_profile(evaluated: Store) -> None:
    assert profiled(evaluated, NAME, "2026.11.3") is None  # a label, not a registry number
    assert profiled(evaluated, NAME, "9") is None
    assert profiled(evaluated, "nobody", "1") is None
    assert profiled(None, NAME, "1") is None


def test_a_shared_server_gives_no_per_model_cost() -> None:
    shared = varying(0.004, 0.1)
    shared = Observed(
        shared.usage, requests=shared.requests, timeline=shared.timeline, shared_models=2
    )
    assert served_cost(shared)[0] is None
    found = capacity_for(DEPLOYED, shared, None, SLO)
    assert found.options == ()
    assert any("shared by 2 models" in n for n in found.notes)


def steady(p99_ms: float | None, per_request: float = 0.05) -> Observed:
    """Busy, flat traffic (no slope): only the whole CPU over the requests, a bound."""
    base = observed([100.0] * 48, [0.9] * 48, cpu_seconds_per_request=per_request)
    usage = ObservedUsage(rps_peak=100.0, p99_latency_ms=p99_ms)
    return Observed(usage, requests=base.requests, timeline=base.timeline,
                    cpu_seconds_per_request=per_request)  # fmt: skip


def test_a_bound_saying_the_slo_is_unreachable_needs_a_breach_to_stand() -> None:
    d = DEPLOYED.model_copy(update={"resources": Resources(cores=1, memory_bytes=GIB)})
    breached = capacity_for(d, steady(p99_ms=400.0), None, 100.0)
    assert breached.options and load_at_slo(breached.options[0], 100.0) == 0
    met = capacity_for(d, steady(p99_ms=90.0), None, 100.0)
    assert met.options == ()
    assert any("yet the server met it (p99 90 ms)" in n for n in met.notes)
    blind = capacity_for(d, steady(p99_ms=None), None, 100.0)
    assert blind.options == ()


def test_a_cost_longer_than_the_observed_latency_is_noise() -> None:
    d = DEPLOYED.model_copy(update={"resources": Resources(cores=1, memory_bytes=GIB)})
    found = capacity_for(d, steady(p99_ms=50.0, per_request=0.2), None, 1000.0)
    assert found.options == ()
    assert any("longer than the observed p99 of 50 ms" in n for n in found.notes)
