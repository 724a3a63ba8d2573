"""The metric contract is what the server exposes: names, types, help, labels, buckets."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from baton.core import metric_names as names
from baton.core.drift import DriftScore
from baton.serve.metrics import ServingMetrics


def exposed() -> dict[str, object]:
    metrics = ServingMetrics(CollectorRegistry(), process=True)
    series = metrics.for_model("m", "1")
    series.request_duration.observe(0.003)
    series.queue_duration.observe(0.001)
    series.compute_duration.observe(0.002)
    series.batch_size.observe(4)
    series.inflight.inc()
    metrics.count("m", "1", 200)
    metrics.served("m", "1", "production", "team")
    metrics.drift("m", "1", [DriftScore("x", 0.1, 2000, "ok")])
    metrics.drift_errors.labels("m", "1").inc()
    metrics.output_bin("m", "1", "score", 0.5).inc(3)
    text = metrics.exposition().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_every_serving_metric_is_exposed_as_the_contract_says() -> None:
    families = exposed()
    for spec in names.SERVING:
        family = families[spec.base]
        assert family.type == spec.kind, spec.name  # type: ignore[attr-defined]
        assert family.documentation == spec.help  # type: ignore[attr-defined]
        samples = family.samples  # type: ignore[attr-defined]
        assert {s.name for s in samples} >= {spec.name} or spec.kind == "histogram"
        for sample in samples:
            assert set(sample.labels) - {"le"} == set(spec.labels), spec.name
        if spec.kind == "histogram":
            bounds = sorted({float(s.labels["le"]) for s in samples if "le" in s.labels})
            assert bounds == [*map(float, spec.buckets), math.inf]
    for spec in (names.PROCESS_CPU_SPEC, names.PROCESS_RESIDENT_MEMORY_SPEC):
        assert spec.base in families and families[spec.base].type == spec.kind  # type: ignore[attr-defined]


def test_names_follow_the_prometheus_conventions() -> None:
    """A counter ends in _total, a unit is in the name where it has one, no name repeats."""
    for spec in names.ALL:
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        if spec.unit in ("seconds", "bytes", "ratio"):
            assert spec.name.removesuffix("_total").endswith(spec.unit), spec.name
        assert bool(spec.buckets) == (spec.kind == "histogram")
    assert len({s.name for s in names.ALL}) == len(names.ALL)
    assert all(s.labels[:2] == names.MV for s in names.SERVING)


def test_an_output_bin_label_reads_back_as_its_bound() -> None:
    for bound in (0.1, 1e-05, -2.5, 123456.789, 1 / 3, math.inf):
        assert float(names.bin_label(bound)) == bound
    assert names.bin_label(math.inf) == "+Inf"
