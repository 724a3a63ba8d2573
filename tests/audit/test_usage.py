"""Usage from a real Prometheus holding a synthetic fleet whose true figures are known."""

from __future__ import annotations

import itertools
import math
import time
from bisect import bisect_left
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from baton.audit.prometheus import Prometheus
from baton.audit.usage import UsageData, collect, in_flight
from baton.core.inventory import Deployment, Resources
from baton.core.metric_names import LATENCY_BUCKETS
from baton.errors import BadInput, Unavailable
from testkit.synthetic import MIB, truth
from tests.audit.conftest import RATE_WINDOW_S, Backfilled, start_tsdb_prometheus
from tests.baton_cli import baton, clean_env, free_port, serving
from tests.handover_factory import write_handover
from tests.monitor.conftest import StartPrometheus
from tests.waiting import wait_until

REL = 0.03  # rates and CPU measured through 15-minute rate windows: within a few percent


@pytest.fixture(scope="module")
def usage(backfilled: Backfilled) -> Iterator[UsageData]:
    fleet = backfilled.fleet
    with Prometheus(backfilled.url) as prom:
        yield collect(
            prom,
            backfilled.deployments,
            fleet.start,
            float(fleet.timestamps()[-1]),
            rate_window_s=RATE_WINDOW_S,
        )


def close(measured: float | None, expected: float, rel: float = REL) -> bool:
    return measured is not None and math.isclose(measured, expected, rel_tol=rel, abs_tol=1e-9)


def same_bucket(measured_ms: float | None, true_ms: float) -> bool:
    """A histogram locates a quantile only to its bucket: both fall in the same one."""
    bounds = [b * 1000 for b in LATENCY_BUCKETS]
    assert measured_ms is not None
    return bisect_left(bounds, measured_ms) == bisect_left(bounds, true_ms)


def test_few_queries_whatever_the_fleet_size(usage: UsageData, backfilled: Backfilled) -> None:
    fleet = backfilled.fleet
    with Prometheus(backfilled.url) as prom:
        one = collect(
            prom,
            backfilled.deployments[:1],
            fleet.start,
            float(fleet.timestamps()[-1]),
            rate_window_s=RATE_WINDOW_S,
        )
    assert one.queries == usage.queries <= 40
    assert usage.step_s == RATE_WINDOW_S
    assert usage.notes == ()


def test_steady_deployment(usage: UsageData, backfilled: Backfilled) -> None:
    spec = backfilled.fleet.specs[0]
    want = truth(spec, backfilled.fleet)
    got = usage.by_name["steady"]
    u = got.usage
    assert close(u.rps_mean, want.rps_mean)
    assert close(u.rps_peak, want.rps_peak)
    assert u.rps_mean is not None and u.rps_p95 is not None and got.rps_p99 is not None
    assert u.rps_mean < u.rps_p95 <= got.rps_p99 <= (u.rps_peak or 0)
    assert same_bucket(u.p99_latency_ms, want.p99_ms)
    assert close(u.cpu_cores_p95, want.cpu_p95)
    assert close(got.cpu_cores_mean, want.cpu_mean)
    assert close(u.memory_peak_bytes, want.memory_peak, 0.001)
    assert (got.replicas_min, got.replicas_max, got.replicas_mean) == (2, 2, 2)
    assert (got.cpu_source, got.memory_source) == ("process", "process")
    assert u.coverage > 0.98
    assert got.missing == ()
    assert got.slo_breach_share == 1.0  # its 15 ms SLO is below its ~20 ms p99 all along
    served = want.rps_mean * (backfilled.fleet.timestamps()[-1] - backfilled.fleet.start)
    assert close(got.requests, served, 0.02)
    # CPU per request: the planted cost plus the idle cores spread over the requests
    idle = spec.idle_cores * spec.replicas / want.rps_mean
    assert close(got.cpu_seconds_per_request, spec.cpu_per_request_s + idle, 0.05)
    assert got.data_from is not None and got.data_from <= backfilled.fleet.start + 1800


def test_autoscaled_replicas_follow_the_load(usage: UsageData, backfilled: Backfilled) -> None:
    want = truth(backfilled.fleet.specs[1], backfilled.fleet)
    got = usage.by_name["auto"]
    assert (got.replicas_min, got.replicas_max) == (want.replicas_min, want.replicas_max) == (1, 4)
    assert got.replicas_mean is not None and 1 < got.replicas_mean < 4
    assert close(got.usage.rps_mean, want.rps_mean)
    assert close(got.usage.cpu_cores_p95, want.cpu_p95, 0.05)
    # daily pattern: 24 hourly means, highest in the afternoon (the cycle peaks at 15:00 UTC)
    assert len(got.daily_pattern) == 24
    assert got.daily_pattern.index(max(got.daily_pattern)) in (14, 15, 16)
    assert got.daily_pattern.index(min(got.daily_pattern)) in (2, 3, 4)


def test_a_gap_lowers_coverage(usage: UsageData, backfilled: Backfilled) -> None:
    want = truth(backfilled.fleet.specs[2], backfilled.fleet)
    got = usage.by_name["gappy"]
    assert want.coverage == 0.75
    assert got.usage.coverage < 1
    assert math.isclose(got.usage.coverage, want.coverage, abs_tol=0.03)
    assert close(got.usage.rps_mean, want.rps_mean)


def test_missing_process_metrics_are_named(usage: UsageData) -> None:
    got = usage.by_name["noproc"]
    assert got.missing == ("cpu", "memory")
    assert got.usage.cpu_cores_p95 is None
    assert got.usage.memory_peak_bytes is None
    assert got.cpu_seconds_per_request is None
    assert got.usage.rps_mean is not None


def test_an_idle_server_served_zero_not_nothing(usage: UsageData) -> None:
    got = usage.by_name["idle"]
    assert (got.usage.rps_mean, got.usage.rps_peak) == (0, 0)
    assert got.usage.coverage > 0.98
    assert got.missing == ("latency",)  # no request, so no latency to measure
    assert close(got.usage.cpu_cores_p95, 0.02)
    assert close(got.usage.memory_peak_bytes, 200 * MIB, 0.001)


def test_gpu_from_baton_nvml_gauges(usage: UsageData, backfilled: Backfilled) -> None:
    want = truth(backfilled.fleet.specs[5], backfilled.fleet)
    got = usage.by_name["gpu-nvml"]
    assert got.gpu_source == "nvml"
    assert want.gpu_mean is not None
    assert close(got.usage.gpu_utilization_mean, want.gpu_mean)
    assert got.gpu_memory_peak_bytes == 3 * 1024**3
    assert "gpu" in got.timeline


def test_gpu_from_dcgm_and_resources_from_cadvisor(
    usage: UsageData, backfilled: Backfilled
) -> None:
    want = truth(backfilled.fleet.specs[6], backfilled.fleet)
    got = usage.by_name["gpu-dcgm"]
    assert (got.gpu_source, got.cpu_source, got.memory_source) == ("dcgm", "cadvisor", "cadvisor")
    assert want.gpu_mean is not None
    assert close(got.usage.gpu_utilization_mean, want.gpu_mean, 0.02)
    assert got.gpu_memory_peak_bytes == 5 * 1024**3
    # the container series carry a sidecar: 0.05 cores and 32 MiB above the process
    assert close(got.usage.cpu_cores_p95, want.cpu_p95 + 0.05)
    assert close(got.usage.memory_peak_bytes, want.memory_peak + 32 * MIB, 0.001)
    assert got.missing == ()


def test_gpu_from_dcgm_scraped_through_a_service(usage: UsageData, backfilled: Backfilled) -> None:
    """Its DCGM series name the GPU's pod in exported_namespace / exported_pod."""
    spec = backfilled.fleet.specs[7]
    assert spec.dcgm_exported
    want = truth(spec, backfilled.fleet)
    got = usage.by_name["gpu-exported"]
    assert got.gpu_source == "dcgm"
    assert want.gpu_mean is not None
    assert close(got.usage.gpu_utilization_mean, want.gpu_mean, 0.02)
    assert got.gpu_memory_peak_bytes == 2 * 1024**3
    assert "gpu" in got.timeline
    assert got.missing == ()


def test_a_deployment_without_data_is_not_guessed(usage: UsageData) -> None:
    got = usage.by_name["absent"]
    assert got.usage.coverage == 0
    assert set(got.missing) == {"requests", "latency", "replicas", "cpu", "memory"}
    assert got.usage.rps_mean is None
    assert got.usage.rps_peak is None
    assert got.replicas_max is None
    assert got.timeline == {}


def test_timelines_share_the_plot_grid(usage: UsageData) -> None:
    got = usage.by_name["steady"]
    assert set(got.timeline) == {"rps", "replicas", "cpu", "memory", "p99_ms"}
    grid = got.timeline["rps"].timestamps
    assert all(b - a == usage.plot_step_s for a, b in itertools.pairwise(grid))
    for series in got.timeline.values():
        assert series.timestamps == grid
        assert len(series.values) == len(grid)
    replicas = [v for v in got.timeline["replicas"].values if not math.isnan(v)]
    assert set(replicas) == {2.0}


def test_progress_reports_every_query(backfilled: Backfilled) -> None:
    fleet = backfilled.fleet
    seen: list[tuple[int, int]] = []
    with Prometheus(backfilled.url) as prom:
        data = collect(
            prom,
            backfilled.deployments[:2],
            float(fleet.timestamps()[-1]) - 86400,
            float(fleet.timestamps()[-1]),
            rate_window_s=RATE_WINDOW_S,
            progress=lambda done, total: seen.append((done, total)),
        )
    total = seen[-1][1]
    assert [d for d, _ in seen] == list(range(1, total + 1))
    assert total == data.queries - 1  # every query but the retention look-up


@pytest.mark.parametrize(("cores", "sent"), [(None, 4), (1, 2), (2, 2), (3, 3), (64, 4)])
def test_as_many_queries_in_flight_as_prometheus_has_cores(cores: int | None, sent: int) -> None:
    assert in_flight(cores) == sent


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(100.0, 100.0, "must end after it starts"), (0.0, 600.0, "shorter than the rate window")],
)
def test_bad_windows_are_refused(
    backfilled: Backfilled, start: float, end: float, message: str
) -> None:
    with Prometheus(backfilled.url) as prom, pytest.raises(BadInput, match=message):
        collect(prom, backfilled.deployments, start, end, rate_window_s=RATE_WINDOW_S)


def test_unreachable_prometheus_is_one_line(backfilled: Backfilled) -> None:
    with Prometheus(f"http://127.0.0.1:{free_port()}") as prom, pytest.raises(Unavailable):
        collect(prom, backfilled.deployments, 0, 86400)


def test_a_window_beyond_retention_and_an_empty_prometheus_are_noted(
    backfilled: Backfilled, tmp_path: Path
) -> None:
    empty = start_tsdb_prometheus(tmp_path / "tsdb", tmp_path, retention="1d")
    try:
        end = float(backfilled.fleet.timestamps()[-1])
        with Prometheus(empty.url) as prom:
            data = collect(prom, backfilled.deployments, end - 2 * 86400, end)
    finally:
        empty.stop()
    assert len(data.notes) == 2
    assert "longer than the 1d Prometheus retains" in data.notes[0]
    assert "has no baton metrics for any deployment" in data.notes[1]
    assert all(o.usage.coverage == 0 for o in data.by_name.values())


def test_a_live_baton_serve_under_load(tmp_path: Path, prometheus: StartPrometheus) -> None:
    """A real server scraped every second: its process metrics join its model on instance."""
    env = clean_env(tmp_path / "home", BATON_USER="ops")
    folder = write_handover(tmp_path / "toy", name="toy")
    assert baton(env, "register", str(folder)).returncode == 0
    assert baton(env, "alias", "set", "toy@production", "1").returncode == 0
    body = {"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 4], "data": [0.0] * 4}]}
    with serving(env, "toy") as url:
        address = url.removeprefix("http://")
        job = {"job_name": "baton", "static_configs": [{"targets": [address]}]}
        running = prometheus({"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}, [])
        sent = 0
        counted = 'sum(baton_requests_total{model="toy"})'
        with httpx.Client(base_url=url, timeout=30) as client, Prometheus(running.url) as prom:
            # one request, scraped, so the counter exists before the measured load starts
            assert client.post("/v2/models/toy/infer", json=body).status_code == 200
            wait_until(lambda: prom.instant(counted, time.time()), "the first request scraped")
            began = time.time()
            while time.time() - began < 12:
                assert client.post("/v2/models/toy/infer", json=body).status_code == 200
                sent += 1
        with Prometheus(running.url) as prom:
            # wait until a scrape has seen every request (a loaded machine delays scrapes)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                seen = prom.instant(counted, time.time())
                if seen and seen[0][1] >= sent + 1:
                    break
                time.sleep(0.5)
            counted_at = time.time()  # and one more scrape of everything after that one
            scraped = 'min(timestamp(up{job="baton"}))'
            wait_until(
                lambda: (s := prom.instant(scraped, time.time())) and s[0][1] > counted_at,
                "one more scrape",
            )
            end = time.time()
            data = collect(prom, [deployment("toy", address)], began - 5, end, rate_window_s=3)
    got = data.by_name["toy"]
    assert got.missing == ()
    assert (got.cpu_source, got.memory_source) == ("process", "process")
    assert got.replicas_max == 1
    assert got.usage.rps_peak is not None and got.usage.rps_peak > 0
    assert got.usage.cpu_cores_p95 is not None and got.usage.cpu_cores_p95 > 0
    assert got.usage.memory_peak_bytes is not None and got.usage.memory_peak_bytes > 10 * MIB
    assert got.usage.p99_latency_ms is not None and 0 < got.usage.p99_latency_ms < 10_000
    # counted from the counter's increase: the right size (on a loaded 2-core machine some
    # runs saw 80% of what was sent; see the report)
    assert got.requests is not None and 0.5 * sent < got.requests < 1.2 * sent
    assert got.cpu_seconds_per_request is not None and got.cpu_seconds_per_request > 0


def deployment(model: str, address: str) -> Deployment:
    return Deployment(
        name=model,
        model=model,
        version="1",
        source="baton",
        replicas=1,
        resources=Resources(cores=1, memory_bytes=1024**3),
        instances=(address,),
    )
