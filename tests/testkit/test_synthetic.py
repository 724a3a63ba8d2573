"""The synthetic fleet: its maths, and OpenMetrics files that promtool can load."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.core.inventory import check_unique
from baton.core.metric_names import LATENCY_BUCKETS
from testkit.synthetic import (
    BLOCK_S,
    Spec,
    Spike,
    SyntheticFleet,
    latency_cdf,
    load_curve,
    replica_counts,
    truth,
    write_openmetrics,
)

END = 1_700_006_400.0  # a multiple of two hours
SAMPLE = re.compile(r"^(?P<name>[A-Za-z_:][\w:]*)\{(?P<labels>[^}]*)\} (?P<v>\S+) (?P<t>\d+)$")

specs = st.builds(
    Spec,
    name=st.just("s"),
    model=st.just("m"),
    replicas=st.integers(1, 3),
    autoscale=st.one_of(st.none(), st.tuples(st.integers(1, 2), st.integers(2, 6))),
    target_rps_per_replica=st.floats(1, 100),
    base_rps=st.floats(0, 500),
    daily_amplitude=st.floats(0, 1),
    spikes=st.lists(
        st.builds(Spike, st.floats(0, 86400), st.floats(300, 7200), st.floats(1, 5)), max_size=2
    ).map(tuple),
    latency_median_ms=st.floats(0.5, 500),
    latency_sigma=st.floats(0.1, 1.5),
)


@given(specs)
@settings(max_examples=50, deadline=None)
def test_load_and_replicas_stay_in_bounds(spec: Spec) -> None:
    fleet = SyntheticFleet((spec,), end=END, days=1, interval_s=600)
    ts = fleet.timestamps()
    load = load_curve(spec, ts, fleet.start)
    assert np.all(load >= 0)
    counts = replica_counts(spec, load)
    low, high = spec.autoscale or (spec.replicas, spec.replicas)
    assert np.all((counts >= low) & (counts <= high))
    if spec.autoscale:  # more load never means fewer replicas
        order = np.argsort(load, kind="stable")
        assert np.all(np.diff(counts[order]) >= 0)
    want = truth(spec, fleet)
    assert want.rps_mean <= want.rps_peak + 1e-9
    assert want.replicas_min <= want.replicas_max <= spec.max_replicas


@given(st.floats(0.5, 500), st.floats(0.05, 1.5))
def test_the_planted_p99_is_the_lognormal_99th_percentile(median: float, sigma: float) -> None:
    spec = Spec("s", "m", latency_median_ms=median, latency_sigma=sigma)
    assert math.isclose(latency_cdf(spec, [spec.p99_ms / 1000])[0], 0.99, rel_tol=1e-6)
    cdf = latency_cdf(spec, LATENCY_BUCKETS)
    assert np.all(np.diff(cdf) >= 0)


def test_specs_become_valid_deployments() -> None:
    fleet = SyntheticFleet(
        (
            Spec("a", "m1", autoscale=(1, 4), rps_at_slo=50, slo_p99_ms=20),
            Spec("b", "m2", replicas=3, gpu="dcgm"),
        ),
        end=END,
        days=1,
    )
    a, b = fleet.deployments()
    check_unique([a, b])
    assert a.autoscaled and (a.min_replicas, a.max_replicas) == (1, 4)
    assert a.capacity[0].rps_at_slo == 50
    assert a.pod_prefix == "a-predictor-"
    assert (b.replicas, b.resources.gpus, b.resources.hardware) == (3, 1, "nvidia-t4")


def parse(files: list[Path]) -> dict[str, list[tuple[float, int]]]:
    """Every series' (value, time) in file order, checking the OpenMetrics layout."""
    series: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for path in files:
        text = path.read_text()
        assert text.endswith("# EOF\n")
        families: list[str] = []
        for line in text.splitlines()[:-1]:
            if line.startswith("# TYPE "):
                family = line.split()[2]
                assert family not in families, f"{family} is not contiguous in {path.name}"
                families.append(family)
                continue
            found = SAMPLE.match(line)
            assert found, line
            assert found["name"].startswith(families[-1])
            series[found["name"] + "{" + found["labels"] + "}"].append(
                (float(found["v"]), int(found["t"]))
            )
    return series


def test_openmetrics_files_are_chunked_sorted_and_consistent(tmp_path: Path) -> None:
    fleet = SyntheticFleet(
        (
            Spec("a", "m1", autoscale=(1, 3), target_rps_per_replica=5, base_rps=8),
            Spec("b", "m2", base_rps=0, gpu="nvml", gpu_utilization=0.5),
            Spec("c", "m3", gaps=((3600, 7200),), cadvisor=True, gpu="dcgm"),
        ),
        end=END,
        days=0.5,
        interval_s=300,
    )
    files = list(write_openmetrics(fleet, tmp_path))
    assert len(files) == 7  # twelve hours in two-hour blocks, and the sample at END opens one
    for path in files:
        found = {int(m["t"]) for m in map(SAMPLE.match, path.read_text().splitlines()) if m}
        assert len({t // BLOCK_S for t in found}) == 1  # each file is one Prometheus block
    series = parse(files)
    for name, samples in series.items():
        times = [t for _, t in samples]
        assert times == sorted(set(times)), f"{name} is not sorted by time"
        if "_total{" in name or "_bucket{" in name or "_count{" in name:
            values = [v for v, _ in samples]
            assert values == sorted(values), f"counter {name} went down"
    # the idle deployment has no request counter yet, but its histogram and info exist
    assert not any('model="m2"' in n for n in series if n.startswith("baton_requests_total"))
    assert any('model="m2"' in n for n in series if n.startswith("baton_model_info"))
    # histogram buckets are cumulative in le at every time
    buckets: dict[tuple[str, int], list[tuple[float, float]]] = defaultdict(list)
    for name, samples in series.items():
        if "_bucket{" in name:
            labels = re.sub(r',le="[^"]*"', "", name)
            le = re.search(r'le="([^"]*)"', name)
            assert le is not None
            for value, t in samples:
                buckets[(labels, t)].append((float(le[1]), value))
    for points in buckets.values():
        values = [v for _, v in sorted(points)]
        assert values == sorted(values)
        assert len(points) == len(LATENCY_BUCKETS) + 1
    # the autoscaled deployment's third replica only appears when the load needs it
    a3 = [n for n in series if n.startswith("baton_model_info") and "10.0.0.3:8000" in n]
    assert a3
    assert len(series[a3[0]]) < len(fleet.timestamps())
    # the gap leaves no sample in it
    c_info = next(n for n in series if n.startswith("baton_model_info") and 'model="m3"' in n)
    gap = [t for _, t in series[c_info] if 3600 <= t - fleet.start < 7200]
    assert gap == []
    # cAdvisor and DCGM series carry namespace and pod
    assert any(
        n.startswith("container_cpu_usage_seconds_total") and 'pod="c-predictor-0"' in n
        for n in series
    )
    assert any(n.startswith("DCGM_FI_DEV_GPU_UTIL") and 'namespace="serving"' in n for n in series)


def test_dcgm_through_a_service_names_the_pod_in_exported_labels(tmp_path: Path) -> None:
    spec = Spec("g", "m", gpu="dcgm", gpu_utilization=0.5, dcgm_exported=True, namespace="ml")
    series = parse(list(write_openmetrics(SyntheticFleet((spec,), end=END, days=0.1), tmp_path)))
    dcgm = [n for n in series if n.startswith("DCGM_")]
    assert len(dcgm) == 2  # utilisation and memory of the one replica's GPU
    for name in dcgm:
        assert 'exported_namespace="ml",exported_pod="g-predictor-0"' in name
        assert 'namespace="gpu-operator"' in name


def test_chunks_must_be_whole_blocks(tmp_path: Path) -> None:
    fleet = SyntheticFleet((Spec("a", "m"),), end=END, days=0.1)
    with pytest.raises(ValueError, match="multiple of 7200"):
        list(write_openmetrics(fleet, tmp_path, chunk_s=3600))
