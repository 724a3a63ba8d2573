"""The router's metrics are what the contract (core/metric_names.py) says."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from baton.core import metric_names as names
from baton.rollout.router_metrics import RouterMetrics
from baton.rollout.weights import Weights


def test_every_router_metric_is_exposed_as_the_contract_says() -> None:
    metrics = RouterMetrics(CollectorRegistry())
    metrics.count("canary", 200, 0.002)
    metrics.count("canary", 499, None)  # no answer: counted, not timed
    metrics.count(names.ROUTER_NO_VARIANT, 429, 0.0001)
    metrics.upstream_error("stable", "timeout")
    metrics.weights(Weights(90, 5, 5))
    metrics.inflight.inc()
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    for spec in names.ROUTER:
        family = families[spec.base]
        assert family.type == spec.kind, spec.name
        assert family.documentation == spec.help
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == set(spec.labels), spec.name
        if spec.kind == "histogram":
            bounds = sorted({float(s.labels["le"]) for s in family.samples if "le" in s.labels})
            assert bounds == [*map(float, spec.buckets), math.inf]
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in families.values()
        for s in f.samples
    }
    assert samples[(names.ROUTER_REQUESTS_TOTAL, (("code", "499"), ("variant", "canary")))] == 1
    assert samples[(names.ROUTER_REQUESTS_TOTAL, (("code", "200"), ("variant", "stable")))] == 0
    count = f"{names.ROUTER_REQUEST_DURATION}_count"
    assert samples[(count, (("variant", "canary"),))] == 1
    assert samples[(names.ROUTER_WEIGHT, (("variant", "stable"),))] == 90
    errors = (("reason", "timeout"), ("variant", "stable"))
    assert samples[(names.ROUTER_UPSTREAM_ERRORS_TOTAL, errors)] == 1
