"""Query results -> ``Observed``: what each deployment used, from the fleet-wide answers.

``audit.usage`` runs the queries (``audit.queries``), each over all deployments at once,
and hands the answers here. Each series was read once, as a range query at the statistics
step S (the points a ``[W:S]`` subquery would evaluate); its mean, p95, p99, peak and count
are computed here with numpy, since six subqueries over one expression cost Prometheus six
evaluations and one range query costs one. Timelines are those points binned to a coarser
plot step. A deployment with no data gets an ``Observed`` with coverage 0 and ``missing``
naming what is missing: nothing is invented. Kept apart from the querying so the arithmetic
can be tested on hand-made answers, without a Prometheus.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from baton.audit.observed import Observed, Series
from baton.audit.prometheus import FloatArray, InstantResult, Labels, RangeResult
from baton.core.inventory import Deployment
from baton.core.sizing import ObservedUsage

Key = tuple[str, str]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class _Stats:
    """One series' figures over the window, from its points at the statistics step."""

    count: int
    mean: float
    p95: float
    p99: float
    peak: float
    low: float
    first: float  # time of the first point with data

    @classmethod
    def of(cls, line: FloatArray, grid: FloatArray) -> _Stats | None:
        seen = np.isfinite(line)
        values = line[seen]
        if values.size == 0:
            return None
        # numpy's linear quantile is the one quantile_over_time computes
        p95, p99 = np.quantile(values, [0.95, 0.99]).tolist()
        return cls(
            int(values.size),
            float(values.mean()),
            p95,
            p99,
            float(values.max()),
            float(values.min()),
            float(grid[np.argmax(seen)]),
        )


@dataclass
class _Found:
    """What the answers hold about one deployment, and what ``observed`` makes of them."""

    window: dict[str, float]  # instant answers over the window, by query name
    lines: dict[str, FloatArray]  # per-deployment series: rps, replicas, p99_ms
    replicas: list[dict[str, FloatArray]]  # per instance: cpu, memory, gpu, gpu_memory
    pods: list[dict[str, FloatArray]]  # per pod: cAdvisor and DCGM series
    pod_window: list[dict[str, float]]
    timeline: dict[str, FloatArray] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def gpu_memory(self, dcgm: bool) -> tuple[list[dict[str, FloatArray]], str]:
        """Where GPU memory is read: the pods' when DCGM gave the utilisation, else baton's."""
        return (self.pods, "pod_gpu_memory") if dcgm else (self.replicas, "gpu_memory")

    def cpu_seconds(self, source: str | None) -> float | None:
        """CPU seconds used over the window, from the counters of the CPU's source."""
        if source == "cadvisor":
            return sum(w.get("pod_cpu_seconds", 0.0) for w in self.pod_window)
        if source == "process":
            return _finite(self.window.get("cpu_seconds"))
        return None


@dataclass(frozen=True)
class _Use:
    """One resource: per-replica statistics, their source, the replicas stacked per point."""

    stats: list[_Stats]
    source: str | None
    stack: FloatArray | None


class Builder:
    """Turns query results into one ``Observed`` per deployment.

    ``instant`` and ``ranged`` are the answers by query name (``audit.queries``); the
    ranged ones were read on ``grid`` (the statistics step), the p99 timeline on
    ``plot_grid``. ``slo`` maps deployment names to a p99 SLO in ms overriding theirs.
    """

    def __init__(
        self,
        instant: dict[str, InstantResult],
        ranged: dict[str, RangeResult],
        grid: FloatArray,
        plot_grid: FloatArray,
        slo: Mapping[str, float],
    ) -> None:
        self.grid = grid
        self.plot_grid = plot_grid
        self.plot = float(plot_grid[1] - plot_grid[0]) if plot_grid.size > 1 else 0.0
        self.expected = max(grid.size, 1)
        self.slo = slo
        # which plot bin each statistics point falls in: bin t covers (t - plot, t]
        if plot_grid.size and self.plot:
            bins = np.ceil(np.round(grid / self.plot, 6)) * self.plot
            index = np.rint((bins - plot_grid[0]) / self.plot).astype(np.int64)
            self.bin = np.where((index >= 0) & (index < plot_grid.size), index, -1)
        else:
            self.bin = np.full(grid.shape, -1 if not plot_grid.size else 0, dtype=np.int64)
        self.window: dict[Key, dict[str, float]] = defaultdict(dict)
        self.pod_window: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        for name, rows in instant.items():
            for labels, value in rows:
                if name.startswith("pod_"):
                    self.pod_window[_pod(labels)][name] = value
                else:
                    self.window[_key(labels)][name] = value
        self.dep: dict[Key, dict[str, FloatArray]] = defaultdict(dict)
        self.inst: dict[Key, dict[str, dict[str, FloatArray]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self.pod: dict[tuple[str, str], dict[str, FloatArray]] = defaultdict(dict)
        for name, series in ranged.items():
            for labels, ts, vs in series:
                if name == "p99_ms":
                    self.dep[_key(labels)][name] = _on_grid(plot_grid, ts, vs)
                elif name.startswith("pod_"):
                    self.pod[_pod(labels)][name] = _on_grid(grid, ts, vs)
                elif name in ("rps", "replicas"):
                    self.dep[_key(labels)][name] = _on_grid(grid, ts, vs)
                else:
                    line = _on_grid(grid, ts, vs)
                    self.inst[_key(labels)][labels.get("instance", "")][name] = line
        self.by_namespace: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for pod_key in self.pod:
            self.by_namespace[pod_key[0]].add(pod_key)

    def _pods_of(self, d: Deployment) -> list[tuple[str, str]]:
        if not d.namespace or not d.pod_prefix:
            return []
        prefix = d.pod_prefix
        return sorted(k for k in self.by_namespace.get(d.namespace, ()) if k[1].startswith(prefix))

    def _binned(self, line: FloatArray, how: str) -> FloatArray:
        """Statistics points -> plot bins (mean or max of the points in each bin)."""
        size = self.plot_grid.size
        ok = np.isfinite(line) & (self.bin >= 0)
        counts = np.bincount(self.bin[ok], minlength=size)[:size]
        if how == "mean":
            sums = np.bincount(self.bin[ok], weights=line[ok], minlength=size)[:size]
            with np.errstate(invalid="ignore", divide="ignore"):
                out = sums / counts
        else:
            out = np.full(size, -np.inf)
            np.maximum.at(out, self.bin[ok], line[ok])
        return np.where(counts > 0, out, np.nan)

    def _units(
        self, lines: list[dict[str, FloatArray]], name: str
    ) -> tuple[list[_Stats], FloatArray | None]:
        """Per-replica statistics of ``name``, and the replicas stacked per point."""
        present = [u[name] for u in lines if name in u]
        stats = [st for st in (_Stats.of(line, self.grid) for line in present) if st]
        if not stats:
            return [], None
        return stats, np.vstack(present)

    def observed(self, d: Deployment) -> Observed:
        """One deployment's ``Observed``: traffic, then CPU and memory, then GPU, then SLO."""
        src = self._found(d)
        rps, latency, reps = self._traffic(src)
        cpu = self._either(src, "pod_cpu", "cpu", "cadvisor", "process")
        memory = self._either(src, "pod_memory", "memory", "cadvisor", "process")
        self._plot(src, "cpu", cpu, np.nanmean, "mean")
        self._plot(src, "memory", memory, np.nanmax, "max")
        src.missing += [name for name, u in (("cpu", cpu), ("memory", memory)) if u.source is None]
        gpu = self._either(src, "pod_gpu", "gpu", "dcgm", "nvml")
        gpu_memory, _ = self._units(*src.gpu_memory(gpu.source == "dcgm"))
        self._plot(src, "gpu", gpu, np.nanmean, "mean")
        if gpu.source is None and d.resources.gpus > 0:
            src.missing.append("gpu")
        requests = _finite(src.window.get("requests"))
        cpu_seconds = src.cpu_seconds(cpu.source)
        if "p99_ms" in src.lines:
            src.timeline["p99_ms"] = src.lines["p99_ms"]
        usage = ObservedUsage(
            rps_mean=rps.mean if rps else None,
            rps_p95=rps.p95 if rps else None,
            rps_peak=rps.peak if rps else None,
            p99_latency_ms=latency * 1000 if latency is not None else None,
            cpu_cores_p95=max(u.p95 for u in cpu.stats) if cpu.stats else None,
            memory_peak_bytes=max(u.peak for u in memory.stats) if memory.stats else None,
            gpu_utilization_mean=_weighted(gpu.stats),
            coverage=min(1.0, rps.count / self.expected) if rps else 0.0,
        )
        return Observed(
            usage=usage,
            rps_p99=rps.p99 if rps else None,
            requests=requests,
            daily_pattern=self._daily(src.lines.get("rps")),
            replicas_min=reps.low if reps else None,
            replicas_max=reps.peak if reps else None,
            replicas_mean=reps.mean if reps else None,
            cpu_cores_mean=_weighted(cpu.stats),
            cpu_source=cpu.source,
            memory_source=memory.source,
            cpu_seconds_per_request=(
                cpu_seconds / requests if cpu_seconds is not None and requests else None
            ),
            gpu_memory_peak_bytes=max(u.peak for u in gpu_memory) if gpu_memory else None,
            gpu_source=gpu.source,
            slo_breach_share=self._breach(d, src.timeline),
            data_from=rps.first if rps else None,
            shared_models=int(_finite(src.window.get("shared_models")) or 1),
            missing=tuple(src.missing),
            timeline=self._timeline(src.timeline),
        )

    def _found(self, d: Deployment) -> _Found:
        """Every answer about ``d``: by (model, version), by instance, by pod."""
        pods = self._pods_of(d)
        return _Found(
            window=self.window.get(d.key, {}),
            lines=self.dep.get(d.key, {}),
            replicas=list(self.inst.get(d.key, {}).values()),
            pods=[self.pod[p] for p in pods],
            pod_window=[self.pod_window[p] for p in pods if p in self.pod_window],
        )

    def _traffic(self, src: _Found) -> tuple[_Stats | None, float | None, _Stats | None]:
        """Request rate, p99 latency (s) and replica count, with their timelines."""
        rps = _Stats.of(src.lines["rps"], self.grid) if "rps" in src.lines else None
        if rps is None:
            src.missing.append("requests")
        else:
            src.timeline["rps"] = self._binned(src.lines["rps"], "mean")
        latency = _finite(src.window.get("latency_p99"))
        if latency is None:
            src.missing.append("latency")
        lines = src.lines
        reps = _Stats.of(lines["replicas"], self.grid) if "replicas" in lines else None
        if reps is None:
            src.missing.append("replicas")
        else:
            src.timeline["replicas"] = self._binned(lines["replicas"], "max")
        return rps, latency, reps

    def _either(self, src: _Found, pod_name: str, name: str, pod_source: str, own: str) -> _Use:
        """A resource from the pods' exporters (cAdvisor, DCGM) if any, else baton's own."""
        stats, stack = self._units(src.pods, pod_name)
        if stats:
            return _Use(stats, pod_source, stack)
        stats, stack = self._units(src.replicas, name)
        return _Use(stats, own if stats else None, stack)

    def _plot(
        self, src: _Found, name: str, use: _Use, across: Callable[..., FloatArray], how: str
    ) -> None:
        """The replicas combined point by point (``across``), then binned for the plot."""
        if use.stack is not None:
            src.timeline[name] = self._binned(_across(use.stack, across), how)

    def _breach(self, d: Deployment, timeline: dict[str, FloatArray]) -> float | None:
        """The share of plot steps whose p99 exceeded the SLO."""
        slo = self.slo.get(d.name, d.slo_p99_ms)
        if slo is None or "p99_ms" not in timeline:
            return None
        seen = timeline["p99_ms"][np.isfinite(timeline["p99_ms"])]
        return float(np.mean(seen > slo)) if seen.size else None

    def _timeline(self, lines: dict[str, FloatArray]) -> dict[str, Series]:
        times = tuple(self.plot_grid.tolist())
        return {name: Series(times, tuple(line.tolist())) for name, line in lines.items()}

    def _daily(self, line: FloatArray | None) -> tuple[float, ...]:
        """Mean req/s per UTC hour of day, from the statistics points; empty unless every
        hour has data (or the step is coarser than an hour)."""
        step = float(self.grid[1] - self.grid[0]) if self.grid.size > 1 else 0.0
        if line is None or not step or step > 3600:
            return ()
        # a rate at t covers (t - step, t]: its hour is the middle's
        hours = (((self.grid - step / 2) // 3600) % 24).astype(np.int64)
        ok = np.isfinite(line)
        sums = np.bincount(hours[ok], weights=line[ok], minlength=24)
        counts = np.bincount(hours[ok], minlength=24)
        if np.any(counts == 0):
            return ()
        return tuple((sums / counts).tolist())


def _on_grid(grid: FloatArray, ts: FloatArray, vs: FloatArray) -> FloatArray:
    line = np.full(grid.shape, np.nan)
    if grid.size == 0:
        return line
    step = float(grid[1] - grid[0]) if grid.size > 1 else 1.0
    index = np.rint((ts - grid[0]) / step).astype(np.int64)
    ok = (index >= 0) & (index < line.size)
    line[index[ok]] = vs[ok]
    return line


def _pod(labels: Labels) -> tuple[str, str]:
    return (labels.get("namespace", ""), labels.get("pod", ""))


def _across(stack: FloatArray, how: Callable[..., FloatArray]) -> FloatArray:
    """Combine replicas point by point, ignoring replicas absent at that point."""
    out = np.full(stack.shape[1], np.nan)
    seen = np.any(np.isfinite(stack), axis=0)
    if seen.any():
        out[seen] = how(stack[:, seen], axis=0)
    return out


def _weighted(units: list[_Stats]) -> float | None:
    """Mean over replicas, each weighted by how long it was there."""
    weight = sum(u.count for u in units)
    return sum(u.mean * u.count for u in units) / weight if weight else None


def _key(labels: Labels) -> Key:
    return (labels.get("model", ""), labels.get("version", ""))
