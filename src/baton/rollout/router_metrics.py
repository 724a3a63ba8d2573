"""The router's Prometheus collectors, built from the metric contract (core/metric_names.py).

Children are bound once per (variant, code) and per variant, so a request pays two
dictionary look-ups, one counter increment and one histogram observation (a few µs).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from baton.core import metric_names as names
from baton.rollout.weights import VARIANTS, Weights

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()


class RouterMetrics:
    """Requests, durations, applied weights and upstream failures, per variant."""

    def __init__(self, registry: CollectorRegistry, *, process: bool = True) -> None:
        self.registry = registry
        spec = names.ROUTER_REQUESTS
        self._requests = Counter(spec.base, spec.help, spec.labels, registry=registry)
        spec = names.ROUTER_REQUEST_DURATION_SPEC
        self._duration = Histogram(
            spec.base, spec.help, spec.labels, buckets=spec.buckets, registry=registry
        )
        spec = names.ROUTER_WEIGHT_SPEC
        self._weight = Gauge(spec.base, spec.help, spec.labels, registry=registry)
        spec = names.ROUTER_UPSTREAM_ERRORS
        self._errors = Counter(spec.base, spec.help, spec.labels, registry=registry)
        spec = names.ROUTER_INFLIGHT_SPEC
        self.inflight = Gauge(spec.base, spec.help, spec.labels, registry=registry)
        if process:
            ProcessCollector(registry=registry)
        self._counted: dict[tuple[str, int], Any] = {}
        self._timed = {v: self._duration.labels(v) for v in VARIANTS}
        for variant in VARIANTS:
            # every variant's success counter exists from the start at 0: Prometheus's
            # increase() cannot count what happened before a series' first scrape
            self._child(variant, 200)
            self._errors.labels(variant, "connect")

    def _child(self, variant: str, code: int) -> Any:
        child = self._counted.get((variant, code))
        if child is None:
            child = self._counted[(variant, code)] = self._requests.labels(variant, str(code))
        return child

    def count(self, variant: str, code: int, seconds: float | None) -> None:
        """One request; ``seconds`` None when it got no response (the client left)."""
        self._child(variant, code).inc()
        if seconds is not None and variant in self._timed:
            self._timed[variant].observe(seconds)

    def upstream_error(self, variant: str, reason: str) -> None:
        self._errors.labels(variant, reason).inc()

    def weights(self, weights: Weights) -> None:
        for variant in VARIANTS:
            self._weight.labels(variant).set(weights.of(variant))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
