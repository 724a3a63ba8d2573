"""Metric names are the DESIGN.md contract, and each server has its own registry."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from baton.core import metric_names as names
from baton.serve import metrics as m
from baton.serve.metrics import ServingMetrics

CONTRACT = {
    "baton_requests": "counter",  # exposed as baton_requests_total
    "baton_request_duration_seconds": "histogram",
    "baton_queue_duration_seconds": "histogram",
    "baton_compute_duration_seconds": "histogram",
    "baton_batch_size": "histogram",
    "baton_inflight_requests": "gauge",
    "baton_model_info": "gauge",
    "baton_drift_score": "gauge",
    "baton_drift_samples": "gauge",
    "baton_drift_errors": "counter",  # exposed as baton_drift_errors_total
}


def families(metrics: ServingMetrics) -> dict[str, tuple[str, list[dict[str, str]]]]:
    text = metrics.exposition().decode()
    return {
        f.name: (f.type, [s.labels for s in f.samples])
        for f in text_string_to_metric_families(text)
    }


def test_every_contract_name_with_model_and_version_labels() -> None:
    metrics = ServingMetrics(CollectorRegistry())
    series = metrics.for_model("digits", "3")
    metrics.count("digits", "3", 200)
    series.request_duration.observe(0.001)
    series.queue_duration.observe(0.0001)
    series.compute_duration.observe(0.0005)
    series.batch_size.observe(4)
    series.inflight.inc()
    metrics.served("digits", "3", "production", "vision")
    metrics.drift_score.labels("digits", "3", "pixel_0").set(0.1)
    metrics.drift_samples.labels("digits", "3").set(500)
    metrics.drift_errors.labels("digits", "3").inc()
    found = families(metrics)
    for name, kind in CONTRACT.items():
        assert found[name][0] == kind, name
        labels = [s for s in found[name][1] if "le" not in s or s.get("le") == "+Inf"]
        assert labels
        assert all(s["model"] == "digits" and s["version"] == "3" for s in labels), name
    assert {"alias": "production", "owner": "vision", "model": "digits", "version": "3"} in (
        found["baton_model_info"][1]
    )
    assert "process_resident_memory_bytes" in found
    assert "process_cpu_seconds" in found
    assert names.REQUESTS_TOTAL == "baton_requests_total"
    assert names.DRIFT_ERRORS_TOTAL == "baton_drift_errors_total"


def test_two_servers_in_one_process_do_not_clash() -> None:
    a = ServingMetrics(CollectorRegistry())
    b = ServingMetrics(CollectorRegistry())
    a.count("x", "1", 200)
    assert 'baton_requests_total{code="200",model="x",version="1"} 1.0' in a.exposition().decode()
    assert "baton_requests_total{" not in b.exposition().decode()


def test_retired_versions_leave_model_info() -> None:
    metrics = ServingMetrics(CollectorRegistry(), process=False)
    metrics.served("digits", "1", "production", "vision")
    metrics.served("digits", "2", "production", "vision")
    metrics.retired("digits", "1", "production", "vision")
    metrics.retired("digits", "9", "production", "vision")  # never served: no error
    info = families(metrics)["baton_model_info"][1]
    assert [s["version"] for s in info] == ["2"]


def test_gpu_series_where_nvml_and_a_gpu_exist() -> None:
    collector = m.NvmlCollector.create()
    if collector is None:
        pytest.skip("no NVML library (pip install nvidia-ml-py) or no GPU on this machine")
    found = families(ServingMetrics(CollectorRegistry(), process=False))
    for name in (names.GPU_UTILIZATION, names.GPU_MEMORY_USED, names.GPU_MEMORY_TOTAL):
        assert next(s["gpu"] for s in found[name][1]) == "0"


class _OneGpu:
    """NVML's calls as ``NvmlCollector`` makes them, for one GPU (no NVML on this machine)."""

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802  (NVML's name)
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:  # noqa: N802
        return i

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> object:  # noqa: N802
        return type("Rates", (), {"gpu": 40})()

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> object:  # noqa: N802
        return type("Memory", (), {"used": 1.0, "total": 2.0})()


def test_gpu_series_survive_multiprocess_mode(tmp_path: Path) -> None:
    """With --workers the exposition is rebuilt from shared files; the GPU must stay in it."""
    metrics = ServingMetrics(CollectorRegistry(), process=False, multiprocess_dir=str(tmp_path))
    metrics._gpu = m.NvmlCollector(_OneGpu())
    found = families(metrics)
    assert found[names.GPU_UTILIZATION][1] == [{"gpu": "0"}]
