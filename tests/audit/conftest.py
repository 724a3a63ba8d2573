"""A real Prometheus over a backfilled TSDB holding a synthetic fleet with known answers.

The fleet is written as OpenMetrics (``testkit.synthetic``), loaded with promtool
(``testkit.backfill``) and served by the real binary, once per session: two days at a
five-minute interval, so the rate window is 15 minutes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from baton.core.inventory import Deployment, Resources
from testkit.backfill import backfill, serve_tsdb
from testkit.synthetic import GIB, MIB, Spec, Spike, SyntheticFleet, write_openmetrics
from tests.monitor.conftest import Running, need, prometheus, prometheus_bin

__all__ = ["prometheus", "prometheus_bin"]  # fixtures shared with tests/monitor

HOUR = 3600
DAY = 24 * HOUR
RATE_WINDOW_S = 900  # three samples at the fleet's five-minute interval

FLEET_SPECS = (
    # steady, two replicas, one two-hour spike doubling the load on the second day
    Spec(
        "steady",
        "ranker",
        replicas=2,
        base_rps=40,
        daily_amplitude=0.5,
        spikes=(Spike(30 * HOUR, 2 * HOUR, 2.0),),
        latency_median_ms=8,
        latency_sigma=0.4,
        cpu_per_request_s=0.004,
        memory_bytes=600 * MIB,
        slo_p99_ms=15,
    ),
    # autoscaled between 1 and 5 replicas at 10 req/s each
    Spec(
        "auto",
        "tagger",
        autoscale=(1, 5),
        target_rps_per_replica=10,
        base_rps=20,
        daily_amplitude=0.8,
        latency_median_ms=3,
        cpu_per_request_s=0.01,
    ),
    # no samples at all for twelve hours
    Spec("gappy", "scorer", base_rps=5, gaps=((6 * HOUR, 18 * HOUR),)),
    # a server whose process metrics are not scraped
    Spec("noproc", "embedder", base_rps=8, process_metrics=False),
    # up all along, never asked anything
    Spec("idle", "legacy", base_rps=0, memory_bytes=200 * MIB),
    # GPU through baton's NVML gauges
    Spec(
        "gpu-nvml",
        "vision",
        base_rps=30,
        gpu="nvml",
        gpu_utilization=0.6,
        gpu_memory_bytes=3 * GIB,
    ),
    # GPU through DCGM, CPU and memory through cAdvisor
    Spec(
        "gpu-dcgm",
        "speech",
        base_rps=12,
        gpu="dcgm",
        gpu_utilization=0.5,
        gpu_memory_bytes=5 * GIB,
        cadvisor=True,
    ),
    # DCGM scraped through a service: the GPU's pod in exported_namespace / exported_pod
    Spec(
        "gpu-exported",
        "ocr",
        replicas=2,
        base_rps=10,
        gpu="dcgm",
        gpu_utilization=0.4,
        gpu_memory_bytes=2 * GIB,
        dcgm_exported=True,
        namespace="ml-serving",
    ),
)
ABSENT = Deployment(
    name="absent",
    model="nobody",
    version="1",
    replicas=1,
    resources=Resources(cores=1, memory_bytes=GIB),
)


@dataclass(frozen=True)
class Backfilled:
    """The fleet, its deployments and the Prometheus serving its history."""

    fleet: SyntheticFleet
    deployments: list[Deployment]
    prometheus: Running
    tsdb: Path  # what it serves (copy it to serve it again: a TSDB has one server)

    @property
    def url(self) -> str:
        return self.prometheus.url


def start_tsdb_prometheus(
    tsdb: Path, workdir: Path, retention: str = "3650d", extra_args: Sequence[str] = ()
) -> Running:
    """The real Prometheus serving ``tsdb``, scraping nothing, keeping old blocks."""
    need("prometheus")
    proc, url = serve_tsdb(tsdb, workdir, retention=retention, extra_args=extra_args)
    return Running("prometheus", proc, int(url.rsplit(":", 1)[1]), workdir / "prometheus.log")


@pytest.fixture(scope="session")
def synthetic_fleet() -> SyntheticFleet:
    # Ends at 09:00 UTC of the day before: the daily cycle is in absolute time, so a fleet
    # ending at the current hour put the busiest samples in the last rate window on some
    # hours (the peak then measured 3.6 % low at 00:00) and passed on others.
    end = (math.floor(time.time() / DAY) - 1) * DAY + 9 * HOUR
    return SyntheticFleet(FLEET_SPECS, end=end, days=2, interval_s=300)


@pytest.fixture(scope="session")
def backfilled(
    synthetic_fleet: SyntheticFleet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backfilled]:
    promtool = need("promtool")
    root = tmp_path_factory.mktemp("audit-tsdb")
    files = write_openmetrics(synthetic_fleet, root / "openmetrics")
    backfill(files, root / "tsdb", promtool, delete=True)
    running = start_tsdb_prometheus(root / "tsdb", root)
    deployments = [*synthetic_fleet.deployments(), ABSENT]
    yield Backfilled(synthetic_fleet, deployments, running, root / "tsdb")
    running.stop()
