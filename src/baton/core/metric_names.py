"""The serving metric contract (DESIGN.md, "Serving metrics"): names, labels, buckets, units.

The server exposes these (``serve/metrics.py`` builds its collectors from the specs), the
monitoring bundle writes rules and dashboards over them and the right-size audit queries
them. This module is pure, so monitoring and the audit know a name without importing the
server; change a metric here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]

# 100 µs .. 10 s: single rows of small models take well under a millisecond. The bounds
# include the latency SLOs teams usually write (5, 10, 20, 25, 50, 100, 200, 250, 500 ms,
# 1 s), because an SLO alert counts requests in the bucket at or above its threshold.
LATENCY_BUCKETS: tuple[float, ...] = (
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
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MV = ("model", "version")

# ``code`` values of requests that got no response. A client that closes its connection
# before its request is in is not the server's failure: 499, as nginx logs it (never 5xx,
# so it spends no error budget); one too slow to send its body is closed by the server: 408.
CLIENT_CLOSED = 499
REQUEST_TIMEOUT = 408


@dataclass(frozen=True)
class MetricSpec:
    """One metric as Prometheus stores it: ``name`` is the series name (``_total`` on a
    counter), ``unit`` what a value means, ``buckets`` a histogram's upper bounds."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...]
    unit: str
    buckets: tuple[float, ...] = ()

    @property
    def base(self) -> str:
        """The name prometheus-client is given (it adds ``_total`` to a counter)."""
        return self.name.removesuffix("_total") if self.kind == "counter" else self.name


REQUESTS = MetricSpec(
    "baton_requests_total",
    "counter",
    "Inference requests by model, version and HTTP status code "
    "(499: the client closed the connection before its request was in).",
    ("model", "version", "code"),
    "requests",
)
REQUEST_DURATION_SPEC = MetricSpec(
    "baton_request_duration_seconds",
    "histogram",
    "Time from a request's arrival to its response, in seconds.",
    MV,
    "seconds",
    LATENCY_BUCKETS,
)
QUEUE_DURATION_SPEC = MetricSpec(
    "baton_queue_duration_seconds",
    "histogram",
    "Time a request waited in its model's queue before its batch ran, in seconds.",
    MV,
    "seconds",
    LATENCY_BUCKETS,
)
COMPUTE_DURATION_SPEC = MetricSpec(
    "baton_compute_duration_seconds",
    "histogram",
    "Time of one batched model call, in seconds.",
    MV,
    "seconds",
    LATENCY_BUCKETS,
)
BATCH_SIZE_SPEC = MetricSpec(
    "baton_batch_size", "histogram", "Rows per batched model call.", MV, "rows", BATCH_BUCKETS
)
INFLIGHT_SPEC = MetricSpec(
    "baton_inflight_requests", "gauge", "Inference requests being handled now.", MV, "requests"
)
MODEL_INFO_SPEC = MetricSpec(
    "baton_model_info",
    "gauge",
    "Served model versions (value 1), with the alias they serve and the owning team.",
    ("model", "version", "alias", "owner"),
    "info",
)
DRIFT_SCORE_SPEC = MetricSpec(
    "baton_drift_score",
    "gauge",
    "Input drift of one feature against the evaluation data (0 = none).",
    ("model", "version", "feature"),
    "psi",
)
DRIFT_SAMPLES_SPEC = MetricSpec(
    "baton_drift_samples", "gauge", "Rows the current drift scores were computed from.", MV, "rows"
)
DRIFT_ERRORS = MetricSpec(
    "baton_drift_errors_total",
    "counter",
    "Batches whose drift sampling failed (they were served; the first is logged).",
    MV,
    "batches",
)
# Served outputs, every row (not sampled), for the canary judge's comparison of a canary's
# outputs with its baseline's. Bounded: the bins are the output reference's (at most
# ``core.drift.BINS`` per feature), for at most ``MAX_OUTPUT_FEATURES`` output features.
MAX_OUTPUT_FEATURES = 64
OUTPUT_BINS_SPEC = MetricSpec(
    "baton_output_bin_total",
    "counter",
    "Served output rows per bin of an output feature; `bin` is the bin's upper bound "
    "(+Inf: the last), the bins are the output deciles of the evaluation named by "
    "--output-bins-from, else of the version's own latest evaluation.",
    ("model", "version", "output", "bin"),
    "rows",
)
NONFINITE_OUTPUTS_SPEC = MetricSpec(
    "baton_nonfinite_outputs_total",
    "counter",
    "Served output rows holding a NaN or an infinity.",
    MV,
    "rows",
)
ALIAS_LOOKUPS_SPEC = MetricSpec(
    "baton_alias_lookups_total",
    "counter",
    "Alias look-ups in the registry by the processes that answer requests: 0 under "
    "`baton serve`, whose one decider looks aliases up for all its workers.",
    (),
    "lookups",
)
GPU_UTILIZATION_SPEC = MetricSpec(
    "baton_gpu_utilization_ratio", "gauge", "GPU busy fraction (0..1).", ("gpu",), "ratio"
)
GPU_MEMORY_USED_SPEC = MetricSpec(
    "baton_gpu_memory_used_bytes", "gauge", "GPU memory in use, bytes.", ("gpu",), "bytes"
)
GPU_MEMORY_TOTAL_SPEC = MetricSpec(
    "baton_gpu_memory_total_bytes", "gauge", "GPU memory, bytes.", ("gpu",), "bytes"
)
# The process collector's (prometheus-client's names, which baton's own collector keeps).
PROCESS_CPU_SPEC = MetricSpec(
    "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
    (), "seconds",
)  # fmt: skip
PROCESS_RESIDENT_MEMORY_SPEC = MetricSpec(
    "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", (), "bytes"
)

# The router (``baton router``) in front of a model's versions: one series per variant
# (stable, baseline, canary). Its requests are the inference calls it passed on; a request
# refused before any variant was chosen (overload, bad input) has ``variant="none"``.
ROUTER_NO_VARIANT = "none"
ROUTER_REQUESTS = MetricSpec(
    "baton_router_requests_total",
    "counter",
    "Inference requests the router handled, by the variant that answered and HTTP status "
    "code (499: the client left; 502/504: the variant failed; variant none: refused first).",
    ("variant", "code"),
    "requests",
)
ROUTER_REQUEST_DURATION_SPEC = MetricSpec(
    "baton_router_request_duration_seconds",
    "histogram",
    "Time from a request's arrival at the router to the end of its response, in seconds.",
    ("variant",),
    "seconds",
    LATENCY_BUCKETS,
)
ROUTER_WEIGHT_SPEC = MetricSpec(
    "baton_router_weight",
    "gauge",
    "Percent of requests the router sends to the variant now (the weights it applies).",
    ("variant",),
    "percent",
)
ROUTER_UPSTREAM_ERRORS = MetricSpec(
    "baton_router_upstream_errors_total",
    "counter",
    "Failed exchanges with a variant's server, by reason: connect (no connection; the "
    "request went to another variant when one could take it), reset, timeout, bad_response.",
    ("variant", "reason"),
    "errors",
)
ROUTER_INFLIGHT_SPEC = MetricSpec(
    "baton_router_inflight_requests",
    "gauge",
    "Inference requests the router is passing on now.",
    (),
    "requests",
)
ROUTER = (
    ROUTER_REQUESTS,
    ROUTER_REQUEST_DURATION_SPEC,
    ROUTER_WEIGHT_SPEC,
    ROUTER_UPSTREAM_ERRORS,
    ROUTER_INFLIGHT_SPEC,
)

SERVING = (
    REQUESTS,
    REQUEST_DURATION_SPEC,
    QUEUE_DURATION_SPEC,
    COMPUTE_DURATION_SPEC,
    BATCH_SIZE_SPEC,
    INFLIGHT_SPEC,
    MODEL_INFO_SPEC,
    DRIFT_SCORE_SPEC,
    DRIFT_SAMPLES_SPEC,
    DRIFT_ERRORS,
    OUTPUT_BINS_SPEC,
    NONFINITE_OUTPUTS_SPEC,
)
ALL = (
    *SERVING,
    ALIAS_LOOKUPS_SPEC,
    GPU_UTILIZATION_SPEC,
    GPU_MEMORY_USED_SPEC,
    GPU_MEMORY_TOTAL_SPEC,
    PROCESS_CPU_SPEC,
    PROCESS_RESIDENT_MEMORY_SPEC,
    *ROUTER,
)

# The names, as the rules, dashboards and audit queries write them.
REQUESTS_TOTAL = REQUESTS.name
REQUEST_DURATION = REQUEST_DURATION_SPEC.name
QUEUE_DURATION = QUEUE_DURATION_SPEC.name
COMPUTE_DURATION = COMPUTE_DURATION_SPEC.name
BATCH_SIZE = BATCH_SIZE_SPEC.name
INFLIGHT = INFLIGHT_SPEC.name
MODEL_INFO = MODEL_INFO_SPEC.name
DRIFT_SCORE = DRIFT_SCORE_SPEC.name
DRIFT_SAMPLES = DRIFT_SAMPLES_SPEC.name
DRIFT_ERRORS_TOTAL = DRIFT_ERRORS.name
OUTPUT_BINS = OUTPUT_BINS_SPEC.name
NONFINITE_OUTPUTS = NONFINITE_OUTPUTS_SPEC.name
ALIAS_LOOKUPS = ALIAS_LOOKUPS_SPEC.base  # exposed with the _total suffix
GPU_UTILIZATION = GPU_UTILIZATION_SPEC.name
GPU_MEMORY_USED = GPU_MEMORY_USED_SPEC.name
GPU_MEMORY_TOTAL = GPU_MEMORY_TOTAL_SPEC.name
PROCESS_CPU = PROCESS_CPU_SPEC.name
PROCESS_RESIDENT_MEMORY = PROCESS_RESIDENT_MEMORY_SPEC.name
ROUTER_REQUESTS_TOTAL = ROUTER_REQUESTS.name
ROUTER_REQUEST_DURATION = ROUTER_REQUEST_DURATION_SPEC.name
ROUTER_WEIGHT = ROUTER_WEIGHT_SPEC.name
ROUTER_UPSTREAM_ERRORS_TOTAL = ROUTER_UPSTREAM_ERRORS.name
ROUTER_INFLIGHT = ROUTER_INFLIGHT_SPEC.name


def bin_label(upper: float) -> str:
    """The ``bin`` label of an output bin: its upper bound, as ``float()`` reads it back
    (``+Inf`` for the last, like a histogram's ``le``)."""
    if upper == float("inf"):
        return "+Inf"
    return repr(float(upper))
