"""Query answers -> ``Observed``, from hand-made answers: the arithmetic without a Prometheus."""

from __future__ import annotations

import math

import numpy as np
import pytest

from baton.audit.observe import Builder
from baton.audit.observed import Observed
from baton.audit.prometheus import FloatArray, InstantResult, RangeResult
from baton.core.inventory import Deployment, Resources

STEP = 300.0
GRID = np.arange(STEP, 11 * STEP, STEP, dtype=np.float64)  # ten statistics points
PLOT_GRID = np.array([5 * STEP, 10 * STEP], dtype=np.float64)  # two plot bins of five
MODEL = {"model": "ranker", "version": "1"}


def deployment(**extra: object) -> Deployment:
    fields: dict[str, object] = {
        "name": "ranker",
        "model": "ranker",
        "version": "1",
        "replicas": 2,
        "resources": Resources(cores=1, memory_bytes=1024**3),
    } | extra
    return Deployment.model_validate(fields)


def line(values: list[float], labels: dict[str, str] | None = None) -> RangeResult:
    """One series on GRID; NaN means no point there (Prometheus leaves it out)."""
    vs = np.array(values, dtype=np.float64)
    ok = np.isfinite(vs)
    return [(labels or MODEL, GRID[ok], vs[ok])]


def observe(
    d: Deployment,
    instant: dict[str, InstantResult] | None = None,
    ranged: dict[str, RangeResult] | None = None,
) -> Observed:
    return Builder(instant or {}, ranged or {}, GRID, PLOT_GRID, {}).observed(d)


def test_coverage_is_the_share_of_statistics_points_with_data() -> None:
    nan = math.nan
    rps = [nan, nan, nan, nan, nan, 2.0, 4.0, 6.0, 4.0, 2.0]
    got = observe(deployment(), ranged={"rps": line(rps)})
    assert got.usage.coverage == pytest.approx(0.5)
    assert got.usage.rps_mean == pytest.approx(3.6)
    assert got.usage.rps_peak == 6.0
    assert got.data_from == GRID[5]  # the first point with data
    # the first plot bin had no point: no data, not zero
    assert math.isnan(got.timeline["rps"].values[0])
    assert got.timeline["rps"].values[1] == pytest.approx(3.6)


def test_missing_names_each_absent_metric() -> None:
    got = observe(deployment(), ranged={"rps": line([1.0] * 10)})
    assert got.missing == ("latency", "replicas", "cpu", "memory")
    assert got.usage.cpu_cores_p95 is None
    assert got.usage.memory_peak_bytes is None
    # a GPU deployment without any GPU series is missing that too; nothing at all: coverage 0
    nothing = observe(deployment(resources=Resources(cores=1, memory_bytes=1, gpus=1)))
    assert nothing.missing == ("requests", "latency", "replicas", "cpu", "memory", "gpu")
    assert nothing.usage.coverage == 0
    assert nothing.timeline == {}


def test_shared_models_come_from_the_window_query() -> None:
    shared = observe(deployment(), instant={"shared_models": [(MODEL, 3.0)]})
    assert shared.shared_models == 3
    other = {"model": "tagger", "version": "1"}
    assert observe(deployment(), instant={"shared_models": [(other, 3.0)]}).shared_models == 1
    assert observe(deployment()).shared_models == 1


def test_cpu_p95_is_the_busiest_replicas() -> None:
    busy = [0.1 * i for i in range(10)]
    calm = [0.1] * 10
    ranged: dict[str, RangeResult] = {
        "cpu": line(busy, MODEL | {"instance": "a:8080"}) + line(calm, MODEL | {"instance": "b"})
    }
    got = observe(deployment(), ranged=ranged)
    assert got.cpu_source == "process"
    assert got.usage.cpu_cores_p95 == pytest.approx(np.quantile(busy, 0.95))
    assert got.cpu_cores_mean == pytest.approx((sum(busy) + sum(calm)) / 20)
    # the timeline is the mean over replicas, point by point, then over each plot bin
    cpu: FloatArray = np.array(got.timeline["cpu"].values)
    assert cpu.tolist() == pytest.approx([(0.2 + 0.1) / 2, (0.7 + 0.1) / 2])


def test_container_series_win_over_process_series() -> None:
    pod = {"namespace": "serving", "pod": "ranker-7d9-x2"}
    elsewhere = {"namespace": "batch", "pod": "ranker-7d9-x3"}
    ranged: dict[str, RangeResult] = {
        "cpu": line([0.1] * 10, MODEL | {"instance": "a"}),
        "pod_cpu": line([0.5] * 10, pod) + line([9.0] * 10, elsewhere),
        "pod_gpu": line([0.4] * 10, pod),
        "gpu": line([0.9] * 10, MODEL | {"instance": "a"}),
    }
    d = deployment(namespace="serving", pod_prefix="ranker-7d9-")
    got = observe(d, {"pod_cpu_seconds": [(pod, 1500.0)]}, ranged)
    assert (got.cpu_source, got.gpu_source) == ("cadvisor", "dcgm")
    assert got.usage.cpu_cores_p95 == pytest.approx(0.5)
    assert got.usage.gpu_utilization_mean == pytest.approx(0.4)
    assert got.cpu_seconds_per_request is None  # no request count to divide by
