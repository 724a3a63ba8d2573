"""The server's Prometheus collectors, built from the metric contract in
``core/metric_names.py`` (names, labels, buckets: change them there and nowhere else).

Every metric lives in a ``CollectorRegistry`` passed in, so two servers in one process
(tests) never clash.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from baton.core import metric_names as names
from baton.core.drift import DriftScore
from baton.core.metric_names import CLIENT_CLOSED as CLIENT_CLOSED  # the server's codes
from baton.core.metric_names import REQUEST_TIMEOUT as REQUEST_TIMEOUT
from baton.core.metric_names import MetricSpec
from baton.serve.process_metrics import ServerProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _counter(spec: MetricSpec, registry: CollectorRegistry) -> Counter:
    return Counter(spec.base, spec.help, spec.labels, registry=registry)


def _histogram(spec: MetricSpec, registry: CollectorRegistry) -> Histogram:
    return Histogram(spec.base, spec.help, spec.labels, buckets=spec.buckets, registry=registry)


def _gauge(spec: MetricSpec, registry: CollectorRegistry, mode: str) -> Gauge:
    return Gauge(
        spec.base,
        spec.help,
        spec.labels,
        registry=registry,
        multiprocess_mode=mode,  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class ModelSeries:
    """The children for one model version, bound once so the hot path does no lookups."""

    request_duration: Any
    queue_duration: Any
    compute_duration: Any
    batch_size: Any
    inflight: Any
    ok: Any = None  # requests answered 200 (the common case, without a label lookup)


class ServingMetrics:
    """All serving metrics of one server, registered in ``registry``.

    With ``multiprocess_dir`` (``--workers`` above 1; prometheus-client's multiprocess
    mode, enabled by PROMETHEUS_MULTIPROC_DIR before the worker starts), every worker
    writes its values there and ``/metrics`` on any worker reports the sum over all of
    them, so a scrape through the shared port sees the whole server.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        process: bool = True,
        multiprocess_dir: str | None = None,
    ) -> None:
        self.registry = registry
        self.multiprocess_dir = multiprocess_dir
        self.requests = _counter(names.REQUESTS, registry)
        self.request_duration = _histogram(names.REQUEST_DURATION_SPEC, registry)
        self.queue_duration = _histogram(names.QUEUE_DURATION_SPEC, registry)
        self.compute_duration = _histogram(names.COMPUTE_DURATION_SPEC, registry)
        self.batch_size = _histogram(names.BATCH_SIZE_SPEC, registry)
        self.inflight = _gauge(names.INFLIGHT_SPEC, registry, "livesum")
        self.model_info = _gauge(names.MODEL_INFO_SPEC, registry, "livemax")
        self.drift_score = _gauge(names.DRIFT_SCORE_SPEC, registry, "livemostrecent")
        self.drift_samples = _gauge(names.DRIFT_SAMPLES_SPEC, registry, "livemostrecent")
        self.drift_errors = _counter(names.DRIFT_ERRORS, registry)
        self.output_bins = _counter(names.OUTPUT_BINS_SPEC, registry)
        self.nonfinite_outputs = _counter(names.NONFINITE_OUTPUTS_SPEC, registry)
        self._alias_lookups = _counter(names.ALIAS_LOOKUPS_SPEC, registry)
        self._alias_lookups_seen = 0
        if process and multiprocess_dir is None:
            ProcessCollector(registry=registry)
        # multiprocess mode: workers are children of the main process; report them all
        self._server_process = (
            ServerProcessCollector(os.getppid()) if process and multiprocess_dir else None
        )
        self._gpu = NvmlCollector.create()
        if self._gpu is not None:
            registry.register(self._gpu)

    def for_model(self, model: str, version: str) -> ModelSeries:
        return ModelSeries(
            self.request_duration.labels(model, version),
            self.queue_duration.labels(model, version),
            self.compute_duration.labels(model, version),
            self.batch_size.labels(model, version),
            self.inflight.labels(model, version),
            self.requests.labels(model, version, "200"),
        )

    def count(self, model: str, version: str, code: int) -> None:
        self.requests.labels(model, version, str(code)).inc()

    def served(self, model: str, version: str, alias: str, owner: str) -> None:
        self.model_info.labels(model, version, alias, owner).set(1)
        # Start the success counter at 0 before the first request: Prometheus's increase()
        # and rate() cannot count what happened before a series' first scrape, so a counter
        # born with the first request loses every request served until it was scraped.
        self.requests.labels(model, version, "200")
        self.nonfinite_outputs.labels(model, version)  # likewise: 0 until a NaN is served

    def nonfinite(self, model: str, version: str) -> Counter:
        """The version's counter of output rows with a NaN or an infinity."""
        return self.nonfinite_outputs.labels(model, version)

    def output_bin(self, model: str, version: str, output: str, upper: float) -> Counter:
        """The counter of one output feature's bin (created at 0, for the same reason)."""
        return self.output_bins.labels(model, version, output, names.bin_label(upper))

    def retired(self, model: str, version: str, alias: str, owner: str) -> None:
        """Drop a version's info series once it no longer serves (counters stay)."""
        with contextlib.suppress(KeyError):
            if self.multiprocess_dir is not None:  # shared files keep values: zero it first
                self.model_info.labels(model, version, alias, owner).set(0)
            self.model_info.remove(model, version, alias, owner)

    def alias_lookups(self, total: int) -> None:
        """Bring the counter up to ``total`` (this process's registry's own count)."""
        if total > self._alias_lookups_seen:
            self._alias_lookups.inc(total - self._alias_lookups_seen)
            self._alias_lookups_seen = total

    def drift(self, model: str, version: str, scores: Sequence[DriftScore]) -> None:
        """Scores per feature; a feature with too little data has no score series."""
        samples = max((s.samples for s in scores), default=0)
        self.drift_samples.labels(model, version).set(samples)
        for s in scores:
            if s.score is not None:
                self.drift_score.labels(model, version, s.feature).set(s.score)
            else:
                with contextlib.suppress(KeyError):
                    self.drift_score.remove(model, version, s.feature)

    def exposition(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        prom_multiprocess.MultiProcessCollector(merged, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        if self._server_process is not None:
            merged.register(self._server_process)
        if self._gpu is not None:  # per-process collectors are not in the shared files
            merged.register(self._gpu)
        return generate_latest(merged)

    def close(self) -> None:
        """A worker that stops takes its live gauges out of the shared totals."""
        if self.multiprocess_dir is not None:
            prom_multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]


class NvmlCollector(Collector):
    """GPU utilization and memory through NVML, where the library and a GPU exist."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml

    @classmethod
    def create(cls) -> NvmlCollector | None:
        try:
            import pynvml  # type: ignore[import-not-found]
        except ImportError:  # no NVML library: nothing to report
            return None
        try:
            pynvml.nvmlInit()
            if pynvml.nvmlDeviceGetCount() < 1:
                return None
        except pynvml.NVMLError:  # no driver or no GPU: nothing to report
            return None
        return cls(pynvml)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        nvml = self._nvml
        util, used, total = (
            GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
            for spec in (
                names.GPU_UTILIZATION_SPEC,
                names.GPU_MEMORY_USED_SPEC,
                names.GPU_MEMORY_TOTAL_SPEC,
            )
        )
        for i in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(i)
            rates = nvml.nvmlDeviceGetUtilizationRates(handle)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            util.add_metric([str(i)], rates.gpu / 100.0)
            used.add_metric([str(i)], float(memory.used))
            total.add_metric([str(i)], float(memory.total))
        yield util
        yield used
        yield total
