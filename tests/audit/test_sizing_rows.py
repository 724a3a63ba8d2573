"""One deployment's row from hand-made observations: capacity fallbacks, an idle GPU, CPU
requests from use. No Prometheus needed: ``size_deployment`` is the whole decision."""

from __future__ import annotations

import random

from baton.audit.capacity import CpuProfile, Profiled
from baton.audit.observed import Observed, Series
from baton.audit.result import Row
from baton.audit.service import size_deployment
from baton.core.inventory import CapacityOption, Deployment, Resources
from baton.core.pricing import GIB, Prices
from baton.core.serving_config import ServingConfig
from baton.core.sizing import ObservedUsage, SizingPolicy

POLICY = SizingPolicy()
DAY = 86400
T4 = Resources(cores=4, memory_bytes=16 * GIB, gpus=1, hardware="nvidia-t4")


def deployment(resources: Resources, replicas: int = 1, **kw: object) -> Deployment:
    return Deployment(name="d", model="m", version="1", replicas=replicas,
                      resources=resources, **kw)  # type: ignore[arg-type]  # fmt: skip


def near_idle(seed: int = 7, n: int = 336) -> Observed:
    """Two weeks at about 0.01 req/s on one replica; CPU idle at 0.05 cores with noise."""
    rng = random.Random(seed)
    ts = tuple(float(i * 3600) for i in range(n))
    rps = tuple(rng.choice((0.0, 0.005, 0.01, 0.015, 0.02)) for _ in ts)
    cpu = tuple(0.05 + rng.gauss(0, 0.003) for _ in ts)
    usage = ObservedUsage(rps_mean=0.01, rps_p95=0.02, rps_peak=0.02, p99_latency_ms=6.0,
                  cpu_cores_p95=0.056, memory_peak_bytes=300e6)  # fmt: skip
    timeline = {"rps": Series(ts, rps), "cpu": Series(ts, cpu),
                "replicas": Series(ts, (1.0,) * n)}  # fmt: skip
    return Observed(
        usage,
        requests=0.01 * 14 * DAY,
        cpu_seconds_per_request=0.05 / 0.01,  # idle CPU charged to a request a minute
        timeline=timeline,
    )


def row(d: Deployment, observed: Observed, profile: Profiled | None = None) -> Row:
    return size_deployment(d, observed, profile, 100.0, None, POLICY, Prices())


def test_near_idle_traffic_is_not_an_unreachable_slo() -> None:
    got = row(deployment(Resources(cores=4, memory_bytes=8 * GIB)), near_idle())
    assert got.verdict != "at risk", got.recommendation.reasons
    assert "SLO unreachable" not in got.flags
    assert any("served cost not used" in r for r in got.recommendation.reasons)


def test_near_idle_traffic_falls_back_to_the_profile() -> None:
    profile = Profiled(100.0, 1.0, None, 800.0, ((100.0, 2.0), (800.0, 9.0)), None)
    got = row(deployment(Resources(cores=4, memory_bytes=8 * GIB)), near_idle(), profile)
    assert got.capacity_source.startswith("evaluation profile")
    assert got.verdict != "at risk"
    assert "consolidate" in got.flags


def gpu_seen(busy: float, peak_rps: float = 5.0, memory: float = 0.3 * GIB) -> Observed:
    usage = ObservedUsage(rps_mean=peak_rps / 2, rps_p95=peak_rps * 0.9, rps_peak=peak_rps,
                  p99_latency_ms=8.0, cpu_cores_p95=0.1, memory_peak_bytes=GIB,
                  gpu_utilization_mean=busy)  # fmt: skip
    return Observed(usage, requests=500, gpu_memory_peak_bytes=memory, gpu_source="dcgm")


GPU_CONFIG = ServingConfig(gpus=1, cores=1, throughput_rps=3000)


def gpu_profile(cpu: CpuProfile | None) -> Profiled:
    return Profiled(100.0, 1.0, None, 3000.0, (), GPU_CONFIG, cpu)


def test_an_idle_gpu_keeps_its_one_gpu_and_says_how_to_free_it() -> None:
    """No CPU measure at all: the floor of two adds no GPU, the cost does not double, and
    the finding says to move to CPU or share the GPU."""
    d = deployment(T4, capacity=(CapacityOption(hardware="nvidia-t4", cores=4, gpus=1,
                                                rps_at_slo=2000),))  # fmt: skip
    got = row(d, gpu_seen(0.01))
    rec = got.recommendation
    assert got.target.replicas == 1 and got.target.gpus == 1
    assert got.verdict == "over-provisioned"
    assert "idle GPU" in got.flags
    assert rec.monthly_cost_after is not None and rec.monthly_cost_now is not None
    assert rec.monthly_cost_after <= rec.monthly_cost_now
    assert any("does not add GPUs on its own" in r for r in rec.reasons)
    assert any("CPU option not measured" in r for r in rec.reasons)
    assert any("GPU busy 1% on average, 0.3 of its 16 GiB" in r for r in rec.reasons)


def test_an_idle_gpu_gets_the_profiles_cpu_configuration() -> None:
    cpu = CpuProfile(2.0, 400.0, ((100.0, 3.0), (400.0, 20.0)))
    got = row(deployment(T4), gpu_seen(0.01), gpu_profile(cpu))
    assert got.target.hardware == "cpu" and got.target.gpus == 0
    assert got.target.replicas == 2  # the floor, on CPU
    assert {"idle GPU", "move to cpu"} <= set(got.flags)
    assert any("the profile's CPU configuration, 2 core(s)" in r
               for r in got.recommendation.reasons)  # fmt: skip


def test_a_gpu_kept_shows_the_cpu_option_beside_it() -> None:
    slow = CpuProfile(2.0, 2.0, ((1.0, 30.0), (2.0, 60.0)))  # 2 req/s a replica on CPU
    got = row(deployment(T4), gpu_seen(0.05, peak_rps=20.0), gpu_profile(slow))
    assert got.target.gpus == 1
    assert "idle GPU" in got.flags
    assert any(r.startswith("on CPU instead: 13 replica(s) of 2 core(s)")
               for r in got.recommendation.reasons)  # fmt: skip


def test_a_busy_gpu_is_no_finding() -> None:
    got = row(deployment(T4), gpu_seen(0.6, memory=12 * GIB), gpu_profile(None))
    assert "idle GPU" not in got.flags
    assert any("GPU busy 60% on average" in r for r in got.recommendation.reasons)
