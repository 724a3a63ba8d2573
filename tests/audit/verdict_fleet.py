"""A synthetic fleet whose every deployment has one right verdict, in a real Prometheus.

Three days of history at a five-minute interval, backfilled with promtool. The audit runs
with headroom 50%, a floor of 2 replicas and "at risk" above 90% of capacity, so each
deployment sits well inside its verdict's band:

- idle: up all along, never asked anything -> idle
- over: 6 replicas of 100 req/s for a 60 req/s peak -> over-provisioned
- right: 2 replicas of 100 req/s for a 60 req/s peak, each using a third of its core at
  p95 -> right-sized
- under: 2 replicas of 100 req/s for a 155 req/s peak (78% of 200) -> under-provisioned
- slow: p99 76 ms against a 50 ms SLO -> at risk
- hot: 2 replicas of 100 req/s for a 190 req/s peak (95%) -> at risk
- auto: autoscaled 1..10 at 10 req/s a replica, where one takes 100 -> over-provisioned
- gpu: a T4 busy 5% for a 45 req/s peak; a 2-core CPU replica takes 150 -> over-provisioned,
  move to cpu
- measured: no load test; 5 ms CPU a request on 1 core -> ~150 req/s at the SLO ->
  over-provisioned
- quiet: 0.02 req/s, CPU idle with noise; no load test -> insufficient data (the noise
  fits no cost per request, and the server met its SLO: never "at risk")
- idle-gpu: one T4 busy 1% holding 0.5 GiB; no load test, 2 ms CPU a request -> move to
  CPU (the floor of two replicas does not add a GPU) -> over-provisioned
- gappy: data for 30% of the window -> insufficient data
- unmeasured: no load test and no process metrics -> insufficient data
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from baton.core.inventory import CapacityOption, Deployment
from baton.core.sizing import SizingPolicy
from testkit.backfill import backfill
from testkit.synthetic import GIB, MIB, Spec, SyntheticFleet, write_openmetrics
from tests.audit.conftest import start_tsdb_prometheus
from tests.monitor.conftest import Running, need

HOUR = 3600
DAYS = 3
RATE_WINDOW_S = 900
POLICY = SizingPolicy(headroom=0.5, min_replicas=2, risk_utilization=0.9)


def _spec(name: str, **kw: object) -> Spec:
    base: dict[str, object] = {
        "model": name,
        "replicas": 2,
        "base_rps": 40,
        "daily_amplitude": 0.5,
        "latency_median_ms": 5,
        "latency_sigma": 0.4,
        "cpu_per_request_s": 0.002,
        "memory_bytes": 600 * MIB,
        "memory_request_bytes": 1 * GIB,
        "rps_at_slo": 100,
        "slo_p99_ms": 50,
    }
    return Spec(name, **{**base, **kw})  # type: ignore[arg-type]


SPECS = (
    _spec("idle", base_rps=0),
    _spec("over", replicas=6),
    _spec("right", cpu_per_request_s=0.008),
    _spec("under", base_rps=100, daily_amplitude=0.55),
    _spec("slow", latency_median_ms=30),
    _spec("hot", base_rps=100, daily_amplitude=0.9),
    _spec("auto", autoscale=(1, 10), target_rps_per_replica=10, base_rps=30),
    _spec(
        "gpu",
        base_rps=30,
        gpu="nvml",
        gpu_utilization=0.05,
        gpu_memory_bytes=2 * GIB,
        cores=4,
        memory_request_bytes=16 * GIB,
        rps_at_slo=2000,
    ),
    _spec("measured", replicas=4, cpu_per_request_s=0.005, rps_at_slo=None, slo_p99_ms=100),
    _spec("quiet", base_rps=0.02, cpu_noise=0.003, rps_at_slo=None, slo_p99_ms=100),
    _spec(
        "idle-gpu",
        replicas=1,
        base_rps=5,
        gpu="dcgm",
        gpu_utilization=0.01,
        gpu_memory_bytes=0.5 * GIB,
        cores=4,
        memory_request_bytes=16 * GIB,
        rps_at_slo=None,
        slo_p99_ms=100,
    ),
    _spec("gappy", gaps=((0, 0.7 * DAYS * 86400),)),
    _spec("unmeasured", rps_at_slo=None, process_metrics=False),
)
EXPECTED = {
    "idle": "idle",
    "over": "over-provisioned",
    "right": "right-sized",
    "under": "under-provisioned",
    "slow": "at risk",
    "hot": "at risk",
    "auto": "over-provisioned",
    "gpu": "over-provisioned",
    "measured": "over-provisioned",
    "quiet": "insufficient data",
    "idle-gpu": "over-provisioned",
    "gappy": "insufficient data",
    "unmeasured": "insufficient data",
}
GPU_OPTIONS = (
    CapacityOption(hardware="nvidia-t4", cores=4, memory_bytes=16 * GIB, gpus=1, rps_at_slo=2000),
    CapacityOption(hardware="cpu", cores=2, memory_bytes=1 * GIB, rps_at_slo=150),
)


def deployments(fleet: SyntheticFleet) -> list[Deployment]:
    out = []
    for spec in fleet.specs:
        d = spec.deployment()
        if spec.name == "gpu":
            d = d.model_copy(update={"capacity": GPU_OPTIONS})
        out.append(d)
    return out


@dataclass(frozen=True)
class VerdictFleet:
    fleet: SyntheticFleet
    deployments: list[Deployment]
    prometheus: Running

    @property
    def start(self) -> float:
        return self.fleet.end - DAYS * 86400

    @property
    def end(self) -> float:
        return self.fleet.end


@pytest.fixture(scope="session")
def verdict_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VerdictFleet]:
    promtool = need("promtool")
    root = tmp_path_factory.mktemp("verdict-tsdb")
    fleet = SyntheticFleet(
        SPECS, end=math.floor(time.time() / HOUR) * HOUR, days=DAYS, interval_s=300
    )
    backfill(write_openmetrics(fleet, root / "openmetrics"), root / "tsdb", promtool, delete=True)
    running = start_tsdb_prometheus(root / "tsdb", root)
    yield VerdictFleet(fleet, deployments(fleet), running)
    running.stop()
