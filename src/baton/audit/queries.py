"""The PromQL the audit runs, and the steps it reads them at.

A fixed, small set of queries, each over all deployments at once: grouped
``by (model, version)`` for traffic and latency, ``by (namespace, pod)`` for cAdvisor and
DCGM, and per replica for baton's info, process and GPU metrics; never one query per
deployment, so 1,000 deployments cost what 10 do. Process metrics carry no model label:
they are joined to ``baton_model_info`` on ``instance`` in the client
(``audit.observe_joins``), on the info lines the ``info`` query reads once, and so is the
deduplication of a replica scraped by two jobs (``max by``). Prometheus 2.42 evaluates a
range query step by step, and at 1,345 steps a join, or an aggregation that keeps every
series, costs it microseconds per series per step: the same join in four range queries,
with the info side evaluated again in each, was half of its work on 1,000 deployments.
The process-metric queries still keep only the instances that have an info line
(``and on (instance)``), so a Prometheus that scrapes other processes does not send
theirs. Kept apart from ``audit.usage`` (which runs them) and ``audit.observe`` (which
reads the answers) so the query text can be read, and tested, on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from baton.core.metric_names import (
    GPU_MEMORY_USED,
    GPU_UTILIZATION,
    MODEL_INFO,
    PROCESS_CPU,
    REQUEST_DURATION,
    REQUESTS_TOTAL,
)
from baton.core.metric_names import PROCESS_RESIDENT_MEMORY as PROCESS_MEMORY

# Exporters' metric names the audit reads when present (baton's own: core/metric_names.py).
CADVISOR_CPU = "container_cpu_usage_seconds_total"
CADVISOR_MEMORY = "container_memory_working_set_bytes"
DCGM_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # percent
DCGM_MEMORY = "DCGM_FI_DEV_FB_USED"  # MiB

NICE_STEPS_S: tuple[int, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800)
NICE_STEPS_S += (3600, 7200, 10800, 21600, 43200)
STAT_POINTS = 5000  # subquery points per series, at most (about)
PLOT_POINTS = 400  # timeline points per series, at most
LOOKBACK_S = 300  # Prometheus's default lookback for an instant selector


def nice_step(seconds: float) -> float:
    """The smallest step from a readable ladder that is at least ``seconds``."""
    for step in NICE_STEPS_S:
        if step >= seconds:
            return float(step)
    day = 86400.0
    return day * math.ceil(seconds / day)


def choose_steps(window_s: float, rate_window_s: float) -> tuple[float, float]:
    """(statistics step, plot step): subqueries stay near 5,000 points, plots near 300-400."""
    step = nice_step(max(rate_window_s, window_s / STAT_POINTS))
    plot = nice_step(max(step, window_s / PLOT_POINTS))
    return step, plot


@dataclass
class Queries:
    """The PromQL the audit runs, built from the rate window R, window W and step S."""

    rate_s: int
    window_s: int
    step_s: int
    namespaces: tuple[str, ...] = ()

    def gauge(self, name: str, selector: str = "") -> str:
        # Beyond the default 5-minute lookback a sparse gauge needs an explicit range.
        if self.rate_s <= LOOKBACK_S:
            return f"{name}{selector}"
        return f"last_over_time({name}{selector}[{self.rate_s}s])"

    @property
    def info(self) -> str:
        """One line per model on each replica: ``max by (model, version, instance)`` of it
        (two jobs scraping one server count it once) is taken in the client."""
        return self.gauge(MODEL_INFO)

    def requests(self, fn: str, range_s: int) -> str:
        # max by instance first: two jobs scraping one server must not count it twice
        return (
            "sum by (model, version) (max by (model, version, code, instance) "
            f"({fn}({REQUESTS_TOTAL}[{range_s}s])))"
        )

    def rps(self, rate_s: int) -> str:
        # "0 where a replica is up but nothing was counted" is added in the client, from the
        # info lines (observe_joins.served): as "or (0 * count by ...)" here it tripled this
        return self.requests("rate", rate_s)

    def baton_only(self, per_instance: str) -> str:
        """Per-instance figures of processes that have a model: a Prometheus scraping other
        processes (every exporter has process_cpu_seconds_total) does not send theirs."""
        return f"{per_instance} and on (instance) {self.gauge(MODEL_INFO)}"

    def cpu(self, rate_s: int) -> str:
        # one series per job scraping the process: their max by instance is taken in the client
        return self.baton_only(f"rate({PROCESS_CPU}[{rate_s}s])")

    @property
    def memory(self) -> str:
        return self.baton_only(self.gauge(PROCESS_MEMORY))

    @property
    def gpu(self) -> str:
        # baton's own gauges: only baton servers have them, no filter needed
        return f"avg by (instance) (max by (instance, gpu) ({self.gauge(GPU_UTILIZATION)}))"

    @property
    def gpu_memory(self) -> str:
        return f"sum by (instance) (max by (instance, gpu) ({self.gauge(GPU_MEMORY_USED)}))"

    def latency_p99(self, range_s: int) -> str:
        return (
            # No max-by-instance here (unlike the request counts): a server scraped twice
            # doubles every bucket alike, which leaves the quantile where it is, and the
            # extra aggregation over every bucket series doubled this, the slowest query.
            "histogram_quantile(0.99, sum by (model, version, le) "
            f"({'increase' if range_s == self.window_s else 'rate'}"
            f"({REQUEST_DURATION}_bucket[{range_s}s])))"
        )

    def latency_p99_ms_timeline(self, plot_s: float) -> str:
        """The p99 latency per plot step, in ms: needs every bucket, so a query of its own."""
        return f"{self.latency_p99(max(round(plot_s), self.rate_s))} * 1000"

    @property
    def pods(self) -> str:
        return self._in_namespaces("namespace")

    def _in_namespaces(self, label: str) -> str:
        # A regex inside a PromQL string: its backslashes are escaped once more, or
        # Prometheus refuses "ml\-serving" (re.escape's "-") as an unknown escape.
        names = "|".join(re.escape(n).replace("\\", "\\\\") for n in self.namespaces)
        return f'{label}=~"{names}"'

    def cadvisor_cpu(self, rate_s: int) -> str:
        sel = f'{{{self.pods},container!="",container!="POD"}}'
        return f"sum by (namespace, pod) (rate({CADVISOR_CPU}{sel}[{rate_s}s]))"

    @property
    def cadvisor_memory(self) -> str:
        sel = f'{{{self.pods},container!="",container!="POD"}}'
        return f"sum by (namespace, pod) ({self.gauge(CADVISOR_MEMORY, sel)})"

    def dcgm_gauge(self, name: str) -> str:
        """A DCGM gauge labelled by the GPU's pod, however the exporter was scraped.

        Scraped through a service, the exporter's own pod takes ``namespace``/``pod`` and
        the GPU's pod moves to ``exported_namespace``/``exported_pod``: either labelling
        passes the namespace filter, and the exported_* labels, where set, become
        ``namespace``/``pod`` before the caller groups by them.
        """
        own = self.gauge(name, "{" + self.pods + "}")
        exported = self.gauge(name, "{" + self._in_namespaces("exported_namespace") + "}")
        either = f"({own} or {exported})"
        namespace = f'label_replace({either}, "namespace", "$1", "exported_namespace", "(.+)")'
        return f'label_replace({namespace}, "pod", "$1", "exported_pod", "(.+)")'

    @property
    def dcgm(self) -> str:
        return f"avg by (namespace, pod) ({self.dcgm_gauge(DCGM_UTIL)}) / 100"

    @property
    def dcgm_memory(self) -> str:
        return f"sum by (namespace, pod) ({self.dcgm_gauge(DCGM_MEMORY)}) * 1048576"


def series_queries(q: Queries, pods: bool) -> dict[str, str]:
    """Range queries at the statistics step: one series per deployment, replica or pod.

    ``info`` (one line per model on each replica) gives the replica counts, and the models
    that ``cpu``, ``memory``, ``gpu`` and ``gpu_memory`` (one line per instance) belong to.
    """
    out = {
        "rps": q.rps(q.rate_s),
        "info": q.info,
        "cpu": q.cpu(q.rate_s),
        "memory": q.memory,
        "gpu": q.gpu,
        "gpu_memory": q.gpu_memory,
    }
    if pods:
        out |= {
            "pod_cpu": q.cadvisor_cpu(q.rate_s),
            "pod_memory": q.cadvisor_memory,
            "pod_gpu": q.dcgm,
            "pod_gpu_memory": q.dcgm_memory,
        }
    return out


def window_queries(q: Queries, pods: bool) -> dict[str, str]:
    """Instant queries over the whole window at its end."""
    w = q.window_s
    out = {
        "requests": q.requests("increase", w),
        "latency_p99": q.latency_p99(w),
        "cpu_seconds": (
            f"sum by (model, version) (max by (model, version, instance) "
            f"(last_over_time({MODEL_INFO}[{w}s])) * on (instance) group_left () "
            f"max by (instance) (increase({PROCESS_CPU}[{w}s])))"
        ),
    }
    # distinct models per server: CPU and memory of a shared server are not one model's
    seen = f"max by (model, version, instance) (last_over_time({MODEL_INFO}[{w}s]))"
    models_per_instance = f"count by (instance) (count by (model, instance) ({seen}))"
    out["shared_models"] = (
        f"max by (model, version) ({seen} * on (instance) group_left () {models_per_instance})"
    )
    if pods:
        out["pod_cpu_seconds"] = (
            f"sum by (namespace, pod) (increase({CADVISOR_CPU}"
            f'{{{q.pods},container!="",container!="POD"}}[{w}s]))'
        )
    return out
