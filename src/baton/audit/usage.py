"""Usage from Prometheus: what every deployment used over the audit window.

A fixed, small set of queries, each over all deployments at once, grouped
``by (model, version)`` for traffic and latency and ``by (model, version, instance)`` (or
``by (namespace, pod)`` for cAdvisor and DCGM) for per-replica resources; never one query
per deployment, so 1,000 deployments cost what 10 do. Statistics are instant queries over
subqueries ``[W:S]`` at the window's end; timelines are range queries at a coarser plot
step. Process metrics carry no model label, so they are joined to ``baton_model_info`` on
``instance``. A deployment with no data gets an ``Observed`` with coverage 0 and ``missing``
naming what is missing: nothing is invented.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np

from baton.audit.observed import Observed, Series
from baton.audit.prometheus import FloatArray, InstantResult, Labels, Prometheus, RangeResult
from baton.core.inventory import Deployment
from baton.core.sizing import Usage
from baton.errors import BadInput
from baton.serve.metrics import (
    GPU_MEMORY_USED,
    GPU_UTILIZATION,
    MODEL_INFO,
    REQUEST_DURATION,
    REQUESTS_TOTAL,
)

Progress = Callable[[int, int], None]
Key = tuple[str, str]

# Exporters' metric names the audit reads when present (not baton's own: serve/metrics.py).
PROCESS_CPU = "process_cpu_seconds_total"
PROCESS_MEMORY = "process_resident_memory_bytes"
CADVISOR_CPU = "container_cpu_usage_seconds_total"
CADVISOR_MEMORY = "container_memory_working_set_bytes"
DCGM_UTIL = "DCGM_FI_DEV_GPU_UTIL"  # percent
DCGM_MEMORY = "DCGM_FI_DEV_FB_USED"  # MiB

NICE_STEPS_S: tuple[int, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800)
NICE_STEPS_S += (3600, 7200, 10800, 21600, 43200)
STAT_POINTS = 5000  # subquery points per series, at most (about)
PLOT_POINTS = 400  # timeline points per series, at most
LOOKBACK_S = 300  # Prometheus's default lookback for an instant selector
QUANTILES = {"p95": 0.95, "p99": 0.99}
WORKERS = 4  # queries in flight at once; Prometheus evaluates them in parallel


@dataclass(frozen=True)
class UsageData:
    """Everything ``collect`` learnt, keyed by deployment name."""

    by_name: dict[str, Observed]
    step_s: float  # subquery step of the statistics
    plot_step_s: float  # step of the timelines
    queries: int  # HTTP API calls made
    notes: tuple[str, ...] = ()


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


def expected_steps(start: float, end: float, step: float) -> int:
    """How many points a ``[end-start : step]`` subquery at ``end`` evaluates (aligned)."""
    start_ms, end_ms, step_ms = round(start * 1000), round(end * 1000), round(step * 1000)
    first = -(-start_ms // step_ms) * step_ms
    return max(0, (end_ms - first) // step_ms + 1)


@dataclass
class _Queries:
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
        return f"max by (model, version, instance) ({self.gauge(MODEL_INFO)})"

    @property
    def replicas(self) -> str:
        return f"count by (model, version) ({self.info})"

    def requests(self, fn: str, range_s: int) -> str:
        # max by instance first: two jobs scraping one server must not count it twice
        return (
            "sum by (model, version) (max by (model, version, code, instance) "
            f"({fn}({REQUESTS_TOTAL}[{range_s}s])))"
        )

    def rps(self, rate_s: int) -> str:
        # A server that is up but never counted a request served 0 req/s, not "no data".
        return f"{self.requests('rate', rate_s)} or (0 * {self.replicas})"

    def joined(self, per_instance: str) -> str:
        return f"{self.info} * on (instance) group_left () {per_instance}"

    def cpu(self, rate_s: int) -> str:
        return self.joined(f"max by (instance) (rate({PROCESS_CPU}[{rate_s}s]))")

    @property
    def memory(self) -> str:
        return self.joined(f"max by (instance) ({self.gauge(PROCESS_MEMORY)})")

    @property
    def gpu(self) -> str:
        per_gpu = f"max by (instance, gpu) ({self.gauge(GPU_UTILIZATION)})"
        return self.joined(f"avg by (instance) ({per_gpu})")

    @property
    def gpu_memory(self) -> str:
        per_gpu = f"max by (instance, gpu) ({self.gauge(GPU_MEMORY_USED)})"
        return self.joined(f"sum by (instance) ({per_gpu})")

    def latency_p99(self, range_s: int) -> str:
        return (
            "histogram_quantile(0.99, sum by (model, version, le) "
            "(max by (model, version, le, instance) "
            f"({'increase' if range_s == self.window_s else 'rate'}"
            f"({REQUEST_DURATION}_bucket[{range_s}s]))))"
        )

    @property
    def pods(self) -> str:
        names = "|".join(re.escape(n) for n in self.namespaces)
        return f'namespace=~"{names}"'

    def cadvisor_cpu(self, rate_s: int) -> str:
        sel = f'{{{self.pods},container!="",container!="POD"}}'
        return f"sum by (namespace, pod) (rate({CADVISOR_CPU}{sel}[{rate_s}s]))"

    @property
    def cadvisor_memory(self) -> str:
        sel = f'{{{self.pods},container!="",container!="POD"}}'
        return f"sum by (namespace, pod) ({self.gauge(CADVISOR_MEMORY, sel)})"

    @property
    def dcgm(self) -> str:
        return f"avg by (namespace, pod) ({self.gauge(DCGM_UTIL, '{' + self.pods + '}')}) / 100"

    @property
    def dcgm_memory(self) -> str:
        sel = "{" + self.pods + "}"
        return f"sum by (namespace, pod) ({self.gauge(DCGM_MEMORY, sel)}) * 1048576"

    def over(self, fn: str, expr: str) -> str:
        """``fn`` over the window, as a subquery evaluated at the window's end."""
        sub = f"({expr})[{self.window_s}s:{self.step_s}s]"
        if fn in QUANTILES:
            return f"quantile_over_time({QUANTILES[fn]}, {sub})"
        return f"{fn}_over_time({sub})"


def _stat_queries(q: _Queries, pods: bool) -> dict[str, str]:
    rps = q.rps(q.rate_s)
    w = q.window_s
    out = {
        "rps_mean": q.over("avg", rps),
        "rps_p95": q.over("p95", rps),
        "rps_p99": q.over("p99", rps),
        "rps_peak": q.over("max", rps),
        "rps_count": q.over("count", rps),
        "data_from": q.over("min", f"timestamp({rps})"),
        "requests": q.requests("increase", w),
        "latency_p99": q.latency_p99(w),
        "replicas_min": q.over("min", q.replicas),
        "replicas_max": q.over("max", q.replicas),
        "replicas_mean": q.over("avg", q.replicas),
        "cpu_p95": q.over("p95", q.cpu(q.rate_s)),
        "cpu_mean": q.over("avg", q.cpu(q.rate_s)),
        "cpu_count": q.over("count", q.cpu(q.rate_s)),
        "memory_peak": q.over("max", q.memory),
        "cpu_seconds": (
            f"sum by (model, version) (max by (model, version, instance) "
            f"(last_over_time({MODEL_INFO}[{w}s])) * on (instance) group_left () "
            f"max by (instance) (increase({PROCESS_CPU}[{w}s])))"
        ),
        "gpu_mean": q.over("avg", q.gpu),
        "gpu_count": q.over("count", q.gpu),
        "gpu_memory_peak": q.over("max", q.gpu_memory),
    }
    if pods:
        out |= {
            "pod_cpu_p95": q.over("p95", q.cadvisor_cpu(q.rate_s)),
            "pod_cpu_mean": q.over("avg", q.cadvisor_cpu(q.rate_s)),
            "pod_cpu_count": q.over("count", q.cadvisor_cpu(q.rate_s)),
            "pod_memory_peak": q.over("max", q.cadvisor_memory),
            "pod_cpu_seconds": (
                f"sum by (namespace, pod) (increase({CADVISOR_CPU}"
                f'{{{q.pods},container!="",container!="POD"}}[{w}s]))'
            ),
            "pod_gpu_mean": q.over("avg", q.dcgm),
            "pod_gpu_count": q.over("count", q.dcgm),
            "pod_gpu_memory_peak": q.over("max", q.dcgm_memory),
        }
    return out


def _plot_queries(q: _Queries, plot_s: int, pods: bool) -> dict[str, str]:
    r = max(plot_s, q.rate_s)
    out = {
        "rps": q.rps(r),
        "replicas": q.replicas,
        "cpu": f"avg by (model, version) ({q.cpu(r)})",
        "memory": f"max by (model, version) ({q.memory})",
        "p99_ms": f"{q.latency_p99(r)} * 1000",
        "gpu": f"avg by (model, version) ({q.gpu})",
    }
    if pods:
        out |= {
            "pod_cpu": q.cadvisor_cpu(r),
            "pod_memory": q.cadvisor_memory,
            "pod_gpu": q.dcgm,
        }
    return out


def collect(
    prom: Prometheus,
    deployments: Sequence[Deployment],
    start: float,
    end: float,
    *,
    rate_window_s: float = 300,
    slo_p99_ms: Mapping[str, float] | None = None,
    progress: Progress | None = None,
) -> UsageData:
    """What each deployment used between ``start`` and ``end`` (epoch seconds)."""
    window = end - start
    if window <= 0:
        raise BadInput(f"the audit window must end after it starts (start {start}, end {end})")
    if rate_window_s <= 0:
        raise BadInput(f"the rate window must be positive, got {rate_window_s:g} s")
    if window < rate_window_s:
        raise BadInput(
            f"the window ({window:.0f} s) is shorter than the rate window "
            f"({rate_window_s:.0f} s): widen --window"
        )
    step, plot = choose_steps(window, rate_window_s)
    notes: list[str] = []
    retention = prom.retention()
    if retention is not None and window > retention:
        notes.append(
            f"the window ({_days(window)}) is longer than the {_days(retention)} Prometheus "
            "retains: figures cover the retained part only, and coverage shows how much"
        )
    namespaces = tuple(sorted({d.namespace for d in deployments if d.namespace and d.pod_prefix}))
    q = _Queries(round(rate_window_s), round(window), round(step), namespaces)
    pods = bool(namespaces)
    plot_start = math.ceil(start / plot) * plot
    plot_end = math.floor(end / plot) * plot
    if plot_end < plot_start:
        plot_start = plot_end
    assert (plot_end - plot_start) / plot <= prom.max_points, "plot step too fine"

    stats = _stat_queries(q, pods)
    plots = _plot_queries(q, round(plot), pods)
    instant, ranged = _run(prom, stats, plots, end, plot_start, plot_end, plot, progress)

    grid = np.arange(plot_start, plot_end + plot / 2, plot, dtype=np.float64)
    builder = _Builder(
        instant, ranged, grid, plot, expected_steps(end - window, end, step), slo_p99_ms or {}
    )
    by_name = {d.name: builder.observed(d) for d in deployments}
    if deployments and all(o.usage.coverage == 0 for o in by_name.values()):
        notes.append(
            f"Prometheus at {prom.url} has no baton metrics for any deployment in the window: "
            "check that it scrapes the servers and that --window covers their traffic"
        )
    return UsageData(by_name, step, plot, prom.queries, tuple(notes))


def _run(
    prom: Prometheus,
    stats: dict[str, str],
    plots: dict[str, str],
    end: float,
    plot_start: float,
    plot_end: float,
    plot: float,
    progress: Progress | None,
) -> tuple[dict[str, InstantResult], dict[str, RangeResult]]:
    instant: dict[str, InstantResult] = {}
    ranged: dict[str, RangeResult] = {}
    total = len(stats) + len(plots)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        points = {pool.submit(prom.instant, text, end): name for name, text in stats.items()}
        lines = {
            pool.submit(prom.range, text, plot_start, plot_end, plot): name
            for name, text in plots.items()
        }
        every: list[Future[InstantResult] | Future[RangeResult]] = [*points, *lines]
        try:
            for done, future in enumerate(as_completed(every), start=1):
                future.result()  # raises the first failure as it comes
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for other in every:
                other.cancel()
            raise
    for pf, name in points.items():
        instant[name] = pf.result()
    for rf, name in lines.items():
        ranged[name] = rf.result()
    return instant, ranged


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass
class _Unit:
    """One replica's figures (an instance, or a pod for cAdvisor/DCGM)."""

    values: dict[str, float] = field(default_factory=dict)


class _Builder:
    """Turns query results into one ``Observed`` per deployment."""

    def __init__(
        self,
        instant: dict[str, InstantResult],
        ranged: dict[str, RangeResult],
        grid: FloatArray,
        plot: float,
        expected: int,
        slo: Mapping[str, float],
    ) -> None:
        self.grid = grid
        self.plot = plot
        self.expected = max(expected, 1)
        self.slo = slo
        self.dep: dict[Key, dict[str, float]] = defaultdict(dict)
        self.inst: dict[Key, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        self.pod: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for name, rows in instant.items():
            for labels, value in rows:
                if name.startswith("pod_"):
                    pod_key = (labels.get("namespace", ""), labels.get("pod", ""))
                    self.pod[pod_key][name] = value
                elif name in ("cpu_p95", "cpu_mean", "cpu_count", "memory_peak") or name.startswith(
                    "gpu_"
                ):
                    inst = labels.get("instance", "")
                    self.inst[_key(labels)][inst][name] = value
                else:
                    self.dep[_key(labels)][name] = value
        self.lines: dict[Key, dict[str, FloatArray]] = defaultdict(dict)
        self.pod_lines: dict[tuple[str, str], dict[str, FloatArray]] = defaultdict(dict)
        for name, series in ranged.items():
            for labels, ts, vs in series:
                line = self._on_grid(ts, vs)
                if name.startswith("pod_"):
                    pod_key = (labels.get("namespace", ""), labels.get("pod", ""))
                    self.pod_lines[pod_key][name] = line
                else:
                    self.lines[_key(labels)][name] = line
        self.by_namespace: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for pod_key in (*self.pod, *self.pod_lines):
            self.by_namespace[pod_key[0]].add(pod_key)

    def _on_grid(self, ts: FloatArray, vs: FloatArray) -> FloatArray:
        line = np.full(self.grid.shape, np.nan)
        if self.grid.size == 0:
            return line
        index = np.rint((ts - self.grid[0]) / self.plot).astype(np.int64)
        ok = (index >= 0) & (index < line.size)
        line[index[ok]] = vs[ok]
        return line

    def _pods_of(self, d: Deployment) -> list[tuple[str, str]]:
        if not d.namespace or not d.pod_prefix:
            return []
        prefix = d.pod_prefix
        return sorted(k for k in self.by_namespace.get(d.namespace, ()) if k[1].startswith(prefix))

    def observed(self, d: Deployment) -> Observed:
        stats = self.dep.get(d.key, {})
        per_instance = list(self.inst.get(d.key, {}).values())
        pods = self._pods_of(d)
        pod_stats = [self.pod[p] for p in pods if p in self.pod]
        lines: dict[str, FloatArray | None] = dict(self.lines.get(d.key, {}))
        missing: list[str] = []

        count = stats.get("rps_count", 0.0)
        coverage = min(1.0, count / self.expected) if count else 0.0
        rps_mean = _finite(stats.get("rps_mean")) if count else None
        if rps_mean is None:
            missing.append("requests")
        latency = _finite(stats.get("latency_p99"))
        if latency is None:
            missing.append("latency")
        replicas_mean = _finite(stats.get("replicas_mean"))
        if replicas_mean is None:
            missing.append("replicas")

        cpu_source = memory_source = None
        cpu_p95 = cpu_mean = memory_peak = cpu_seconds = None
        cad_cpu = [s for s in pod_stats if "pod_cpu_p95" in s]
        cad_mem = [s for s in pod_stats if "pod_memory_peak" in s]
        if cad_cpu:
            cpu_source = "cadvisor"
            cpu_p95 = max(s["pod_cpu_p95"] for s in cad_cpu)
            cpu_mean = _weighted(cad_cpu, "pod_cpu_mean", "pod_cpu_count")
            cpu_seconds = sum(s.get("pod_cpu_seconds", 0.0) for s in cad_cpu)
            lines["cpu"] = _combine([self.pod_lines[p].get("pod_cpu") for p in pods], np.nanmean)
        else:
            proc = [s for s in per_instance if "cpu_p95" in s]
            if proc:
                cpu_source = "process"
                cpu_p95 = max(s["cpu_p95"] for s in proc)
                cpu_mean = _weighted(proc, "cpu_mean", "cpu_count")
                cpu_seconds = _finite(stats.get("cpu_seconds"))
        if cad_mem:
            memory_source = "cadvisor"
            memory_peak = max(s["pod_memory_peak"] for s in cad_mem)
            lines["memory"] = _combine(
                [self.pod_lines[p].get("pod_memory") for p in pods], np.nanmax
            )
        else:
            mem = [s["memory_peak"] for s in per_instance if "memory_peak" in s]
            if mem:
                memory_source = "process"
                memory_peak = max(mem)
        if cpu_source is None:
            missing.append("cpu")
        if memory_source is None:
            missing.append("memory")

        gpu_source = None
        gpu_mean = gpu_memory = None
        dcgm = [s for s in pod_stats if "pod_gpu_mean" in s]
        nvml = [s for s in per_instance if "gpu_mean" in s]
        if dcgm:
            gpu_source = "dcgm"
            gpu_mean = _weighted(dcgm, "pod_gpu_mean", "pod_gpu_count")
            peaks = [s["pod_gpu_memory_peak"] for s in dcgm if "pod_gpu_memory_peak" in s]
            gpu_memory = max(peaks) if peaks else None
            lines["gpu"] = _combine([self.pod_lines[p].get("pod_gpu") for p in pods], np.nanmean)
        elif nvml:
            gpu_source = "nvml"
            gpu_mean = _weighted(nvml, "gpu_mean", "gpu_count")
            peaks = [s["gpu_memory_peak"] for s in per_instance if "gpu_memory_peak" in s]
            gpu_memory = max(peaks) if peaks else None
        if gpu_source is None and d.resources.gpus > 0:
            missing.append("gpu")

        requests = _finite(stats.get("requests"))
        per_request = None
        if cpu_seconds is not None and requests:
            per_request = cpu_seconds / requests
        slo = self.slo.get(d.name, d.slo_p99_ms)
        breach = None
        p99_line = lines.get("p99_ms")
        if slo is not None and p99_line is not None:
            seen = p99_line[np.isfinite(p99_line)]
            breach = float(np.mean(seen > slo)) if seen.size else None
        data_from = _finite(stats.get("data_from")) if count else None

        usage = Usage(
            rps_mean=rps_mean,
            rps_p95=_finite(stats.get("rps_p95")) if count else None,
            rps_peak=_finite(stats.get("rps_peak")) if count else None,
            p99_latency_ms=latency * 1000 if latency is not None else None,
            cpu_cores_p95=cpu_p95,
            memory_peak_bytes=memory_peak,
            gpu_utilization_mean=gpu_mean,
            coverage=coverage,
        )
        return Observed(
            usage=usage,
            rps_p99=_finite(stats.get("rps_p99")) if count else None,
            requests=requests,
            daily_pattern=self._daily(lines.get("rps")),
            replicas_min=_finite(stats.get("replicas_min")),
            replicas_max=_finite(stats.get("replicas_max")),
            replicas_mean=replicas_mean,
            cpu_cores_mean=cpu_mean,
            cpu_source=cpu_source,
            memory_source=memory_source,
            cpu_seconds_per_request=per_request,
            gpu_memory_peak_bytes=gpu_memory,
            gpu_source=gpu_source,
            slo_breach_share=breach,
            data_from=data_from,
            missing=tuple(missing),
            timeline={
                name: Series(tuple(self.grid.tolist()), tuple(line.tolist()))
                for name, line in lines.items()
                if line is not None
            },
        )

    def _daily(self, line: FloatArray | None) -> tuple[float, ...]:
        """Mean req/s per UTC hour of day; empty unless every hour has data."""
        if line is None or self.plot > 3600 or 3600 % self.plot:
            return ()
        # a rate at t covers (t - step, t]: its hour is the middle's
        hours = (((self.grid - self.plot / 2) // 3600) % 24).astype(np.int64)
        ok = np.isfinite(line)
        sums = np.bincount(hours[ok], weights=line[ok], minlength=24)
        counts = np.bincount(hours[ok], minlength=24)
        if np.any(counts == 0):
            return ()
        return tuple((sums / counts).tolist())


def _key(labels: Labels) -> Key:
    return (labels.get("model", ""), labels.get("version", ""))


def _weighted(units: list[dict[str, float]], mean: str, count: str) -> float | None:
    pairs = [(u[mean], u.get(count, 1.0)) for u in units if mean in u and math.isfinite(u[mean])]
    weight = sum(c for _, c in pairs)
    if not pairs or weight <= 0:
        return None
    return sum(m * c for m, c in pairs) / weight


def _combine(lines: list[FloatArray | None], how: Callable[..., FloatArray]) -> FloatArray | None:
    present = [line for line in lines if line is not None]
    if not present:
        return None
    stacked = np.vstack(present)
    out = np.full(stacked.shape[1], np.nan)
    seen = np.any(np.isfinite(stacked), axis=0)
    if seen.any():
        out[seen] = how(stacked[:, seen], axis=0)
    return out


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g}d" if days >= 1 else f"{seconds / 3600:g}h"
