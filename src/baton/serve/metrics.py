"""The one home of baton's Prometheus metric names (DESIGN.md, "Serving metrics").

Monitoring rules, dashboards and the right-size audit read these names; change them here
and nowhere else. Every metric lives in a ``CollectorRegistry`` passed in, so two servers
in one process (tests) never clash.
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

from baton.core.drift import DriftScore
from baton.serve.process_metrics import PROCESS_CPU as PROCESS_CPU  # re-exported for the audit
from baton.serve.process_metrics import PROCESS_RESIDENT_MEMORY as PROCESS_RESIDENT_MEMORY
from baton.serve.process_metrics import ServerProcessCollector

REQUESTS_TOTAL = "baton_requests_total"
REQUEST_DURATION = "baton_request_duration_seconds"
QUEUE_DURATION = "baton_queue_duration_seconds"
COMPUTE_DURATION = "baton_compute_duration_seconds"
BATCH_SIZE = "baton_batch_size"
INFLIGHT = "baton_inflight_requests"
MODEL_INFO = "baton_model_info"
DRIFT_SCORE = "baton_drift_score"
DRIFT_SAMPLES = "baton_drift_samples"
DRIFT_ERRORS_TOTAL = "baton_drift_errors_total"
ALIAS_LOOKUPS = "baton_alias_lookups"  # exposed with the _total suffix
GPU_UTILIZATION = "baton_gpu_utilization_ratio"
GPU_MEMORY_USED = "baton_gpu_memory_used_bytes"
GPU_MEMORY_TOTAL = "baton_gpu_memory_total_bytes"

# ``code`` values of requests that got no response. A client that closes its connection
# before its request is in is not the server's failure: 499, as nginx logs it (never 5xx,
# so it spends no error budget); one too slow to send its body is closed by the server: 408.
CLIENT_CLOSED = 499
REQUEST_TIMEOUT = 408

CONTENT_TYPE = CONTENT_TYPE_LATEST
# 100 µs .. 10 s: single rows of small models take well under a millisecond. The bounds
# include the latency SLOs teams usually write (5, 10, 20, 25, 50, 100, 200, 250, 500 ms,
# 1 s), because an SLO alert counts requests in the bucket at or above its threshold.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.02,
    0.025,
    0.05,
    0.1,
    0.2,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MV = ("model", "version")


@dataclass(frozen=True, slots=True)
class ModelSeries:
    """The children for one model version, bound once so the hot path does no lookups."""

    request_duration: Any
    queue_duration: Any
    compute_duration: Any
    batch_size: Any
    inflight: Any


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
        self.requests = Counter(
            "baton_requests",
            "Inference requests by model, version and HTTP status code "
            "(499: the client closed the connection before its request was in).",
            ("model", "version", "code"),
            registry=registry,
        )
        self.request_duration = Histogram(
            REQUEST_DURATION,
            "Time from a request's arrival to its response, in seconds.",
            MV,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_duration = Histogram(
            QUEUE_DURATION,
            "Time a request waited in its model's queue before its batch ran, in seconds.",
            MV,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.compute_duration = Histogram(
            COMPUTE_DURATION,
            "Time of one batched model call, in seconds.",
            MV,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            BATCH_SIZE,
            "Rows per batched model call.",
            MV,
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.inflight = Gauge(
            INFLIGHT,
            "Inference requests being handled now.",
            MV,
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.model_info = Gauge(
            MODEL_INFO,
            "Served model versions (value 1), with the alias they serve and the owning team.",
            ("model", "version", "alias", "owner"),
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.drift_score = Gauge(
            DRIFT_SCORE,
            "Input drift of one feature against the evaluation data (0 = none).",
            ("model", "version", "feature"),
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.drift_samples = Gauge(
            DRIFT_SAMPLES,
            "Rows the current drift scores were computed from.",
            MV,
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.drift_errors = Counter(
            DRIFT_ERRORS_TOTAL,
            "Batches whose drift sampling failed (they were served; the first is logged).",
            MV,
            registry=registry,
        )
        self._alias_lookups = Counter(
            ALIAS_LOOKUPS,
            "Alias look-ups in the registry by the processes that answer requests: 0 under "
            "`baton serve`, whose one decider looks aliases up for all its workers.",
            registry=registry,
        )
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
        )

    def count(self, model: str, version: str, code: int) -> None:
        self.requests.labels(model, version, str(code)).inc()

    def served(self, model: str, version: str, alias: str, owner: str) -> None:
        self.model_info.labels(model, version, alias, owner).set(1)
        # Start the success counter at 0 before the first request: Prometheus's increase()
        # and rate() cannot count what happened before a series' first scrape, so a counter
        # born with the first request loses every request served until it was scraped.
        self.requests.labels(model, version, "200")

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
        util = GaugeMetricFamily(GPU_UTILIZATION, "GPU busy fraction (0..1).", labels=["gpu"])
        used = GaugeMetricFamily(GPU_MEMORY_USED, "GPU memory in use, bytes.", labels=["gpu"])
        total = GaugeMetricFamily(GPU_MEMORY_TOTAL, "GPU memory, bytes.", labels=["gpu"])
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
