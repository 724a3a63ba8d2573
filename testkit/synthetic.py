"""Synthetic fleets with known answers, written as OpenMetrics for ``promtool`` backfill.

The audit's tests, its benchmark and its demo need Prometheus to hold weeks of a fleet's
history whose true figures are known: load with a daily cycle and spikes, replicas that
follow the load when autoscaled, lognormal latency (so the p99 is known), CPU from a cost
per request plus idle, memory, optional GPU gauges (baton's NVML ones or DCGM's, labelled
directly or through a service), optional cAdvisor container series, and gaps. ``truth``
gives the figures the audit should find.

Files are written per two-hour chunk aligned to Prometheus's block boundaries: promtool
2.42 re-reads a whole file once per two-hour block it spans, so a chunk is read once and
every file becomes exactly one block. Values are computed with numpy and streamed to disk.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
from prometheus_client.utils import floatToGoString

from baton.core.inventory import CapacityOption, Deployment, Resources
from baton.core.metric_names import (
    GPU_MEMORY_USED,
    GPU_UTILIZATION,
    LATENCY_BUCKETS,
    MODEL_INFO,
    PROCESS_CPU,
    PROCESS_RESIDENT_MEMORY,
    REQUEST_DURATION,
    REQUESTS_TOTAL,
)

MIB = 1024.0**2
GIB = 1024.0**3
BLOCK_S = 7200  # Prometheus's smallest block: promtool writes one per two hours
Z99 = 2.3263478740408408  # standard normal 99th percentile
Array = npt.NDArray[np.float64]
_ERF = np.vectorize(math.erf)


@dataclass(frozen=True)
class Spike:
    """Load multiplied by ``factor`` from ``at_s`` (seconds after the fleet's start)."""

    at_s: float
    duration_s: float
    factor: float


@dataclass(frozen=True)
class Spec:
    """One synthetic deployment: how it is loaded, how it behaves and what it was given."""

    name: str
    model: str
    version: str = "1"
    replicas: int = 1
    autoscale: tuple[int, int] | None = None  # (min, max) replicas following the load
    target_rps_per_replica: float = 50.0  # the autoscaler's target
    base_rps: float = 10.0  # mean load over a day (whole deployment)
    daily_amplitude: float = 0.5  # 0..1; peak at 15:00 UTC, trough at 03:00
    spikes: tuple[Spike, ...] = ()
    latency_median_ms: float = 5.0
    latency_sigma: float = 0.4  # lognormal shape: p99 = median * exp(2.326 * sigma)
    cpu_per_request_s: float = 0.002
    idle_cores: float = 0.02  # per replica
    cpu_noise: float = 0.0  # cores: seeded Gaussian jitter per sample (GC, scrapes, logs)
    memory_bytes: float = 400 * MIB  # per replica, at peak load
    process_metrics: bool = True
    gpu: Literal["nvml", "dcgm"] | None = None
    gpu_utilization: float = 0.0  # per replica at peak load (0..1)
    gpu_memory_bytes: float = 0.0
    cadvisor: bool = False  # container series: CPU + 0.05 cores, memory + 32 MiB (sidecar)
    # DCGM scraped through a service: the GPU's pod in exported_namespace / exported_pod
    dcgm_exported: bool = False
    gaps: tuple[tuple[float, float], ...] = ()  # (from_s, to_s) after the start: no samples
    # what it was given (the inventory side)
    cores: float = 1.0
    memory_request_bytes: float = 1 * GIB
    rps_at_slo: float | None = None  # measured per-replica capacity at the SLO
    slo_p99_ms: float | None = None
    namespace: str = "serving"
    owner: str = "synthetic"

    @property
    def pod_prefix(self) -> str:
        return f"{self.name}-predictor-"

    @property
    def max_replicas(self) -> int:
        return self.autoscale[1] if self.autoscale else self.replicas

    @property
    def p99_ms(self) -> float:
        return self.latency_median_ms * math.exp(Z99 * self.latency_sigma)

    def deployment(self) -> Deployment:
        """The inventory entry for this spec, as a fleet.yaml would describe it."""
        low, high = self.autoscale if self.autoscale else (None, None)
        capacity = (
            (CapacityOption(cores=self.cores, rps_at_slo=self.rps_at_slo),)
            if self.rps_at_slo
            else ()
        )
        return Deployment(
            name=self.name,
            model=self.model,
            version=self.version,
            replicas=high if high is not None else self.replicas,
            min_replicas=low,
            max_replicas=high,
            resources=Resources(
                cores=self.cores,
                memory_bytes=self.memory_request_bytes,
                gpus=1 if self.gpu else 0,
                hardware="nvidia-t4" if self.gpu else "cpu",
            ),
            namespace=self.namespace,
            pod_prefix=self.pod_prefix,
            owner=self.owner,
            slo_p99_ms=self.slo_p99_ms,
            capacity=capacity,
            origin="synthetic",
        )


@dataclass(frozen=True)
class SyntheticFleet:
    """Specs and the time they cover: samples every ``interval_s`` up to ``end``."""

    specs: tuple[Spec, ...]
    end: float  # epoch seconds; rounded down to the interval
    days: float = 14.0
    interval_s: int = 300

    @property
    def start(self) -> float:
        return float(self.timestamps()[0]) - self.interval_s

    def timestamps(self) -> Array:
        last = math.floor(self.end / self.interval_s) * self.interval_s
        n = round(self.days * 86400 / self.interval_s)
        return last - self.interval_s * np.arange(n - 1, -1, -1, dtype=np.float64)

    def deployments(self) -> list[Deployment]:
        return [s.deployment() for s in self.specs]


@dataclass(frozen=True)
class Truth:
    """What the audit should find for one spec (per replica where it says so)."""

    rps_mean: float  # over the sampled (non-gap) time
    rps_peak: float
    p99_ms: float
    cpu_p95: float  # per replica: p95 over time of the busiest replica
    cpu_mean: float  # per replica
    memory_peak: float  # per replica
    replicas_min: int
    replicas_max: int
    coverage: float  # share of the window with samples
    gpu_mean: float | None


@dataclass
class _State:
    """One spec's values at every sample time, computed once per fleet."""

    spec: Spec
    index: int
    load: Array  # req/s, whole deployment (0 in gaps)
    active: npt.NDArray[np.bool_]  # per replica x time
    requests: Array  # per replica x time, cumulative
    cpu: Array  # per replica x time, cumulative CPU seconds
    cores: Array  # per replica x time, cores in use
    memory: Array  # per replica x time, bytes
    gpu: Array  # per replica x time, busy ratio

    interval_s: float

    def instance(self, replica: int) -> str:
        return f"10.{(self.index >> 8) & 255}.{self.index & 255}.{replica + 1}:8000"

    def pod(self, replica: int) -> str:
        return f"{self.spec.pod_prefix}{replica}"


def load_curve(spec: Spec, ts: Array, start: float) -> Array:
    """Requests/s at each time: the daily cycle, times any spikes, zero in gaps."""
    hours = (ts % 86400) / 3600
    load = spec.base_rps * (1 + spec.daily_amplitude * np.sin(2 * np.pi * (hours - 9) / 24))
    offset = ts - start
    for spike in spec.spikes:
        load = np.where(
            (offset >= spike.at_s) & (offset < spike.at_s + spike.duration_s),
            load * spike.factor,
            load,
        )
    return np.where(_sampled(spec, ts, start), load, 0.0)


def _sampled(spec: Spec, ts: Array, start: float) -> npt.NDArray[np.bool_]:
    offset = ts - start
    ok = np.ones(ts.shape, dtype=bool)
    for low, high in spec.gaps:
        ok &= ~((offset >= low) & (offset < high))
    return ok


def replica_counts(spec: Spec, load: Array) -> npt.NDArray[np.int64]:
    """Replicas serving at each time: constant, or the autoscaler's ceil(load / target)."""
    if spec.autoscale is None:
        return np.full(load.shape, spec.replicas, dtype=np.int64)
    low, high = spec.autoscale
    wanted = np.ceil(load / spec.target_rps_per_replica).astype(np.int64)
    return np.clip(wanted, low, high)


def _state(spec: Spec, index: int, fleet: SyntheticFleet) -> _State:
    ts = fleet.timestamps()
    sampled = _sampled(spec, ts, fleet.start)
    load = load_curve(spec, ts, fleet.start)
    counts = replica_counts(spec, load)
    replicas = np.arange(spec.max_replicas)[:, None]
    active = (replicas < counts[None, :]) & sampled[None, :]
    share = np.where(active, load / np.maximum(counts, 1), 0.0)
    requests = np.floor(np.cumsum(share * fleet.interval_s, axis=1))
    cores = np.where(active, spec.idle_cores + spec.cpu_per_request_s * share, 0.0)
    if spec.cpu_noise:
        jitter = np.random.default_rng(zlib.crc32(spec.name.encode())).normal(
            0.0, spec.cpu_noise, cores.shape
        )
        cores = np.where(active, np.maximum(cores + jitter, 0.0), 0.0)
    cpu = np.cumsum(cores * fleet.interval_s, axis=1)
    top = float(load.max()) if load.size else 0.0
    ratio = load / top if top > 0 else np.ones_like(load)
    memory = np.where(active, spec.memory_bytes * (0.9 + 0.1 * ratio), 0.0)
    top_share = float(share.max()) if share.size else 0.0
    busy = share / top_share if top_share > 0 else np.ones_like(share)
    gpu = np.where(active, spec.gpu_utilization * busy, 0.0)
    return _State(
        spec, index, load, active, requests, cpu, cores, memory, gpu, float(fleet.interval_s)
    )


def truth(spec: Spec, fleet: SyntheticFleet) -> Truth:
    """The figures an exact audit of ``spec`` over the whole fleet window would report."""
    state = _state(spec, 0, fleet)
    ts = fleet.timestamps()
    sampled = _sampled(spec, ts, fleet.start)
    counts = replica_counts(spec, state.load)[sampled]
    busiest = np.where(state.active, state.cores, -np.inf).max(axis=0)[sampled]
    gpu = state.gpu[state.active] if spec.gpu else None
    return Truth(
        rps_mean=float(state.load[sampled].mean()),
        rps_peak=float(state.load.max()),
        p99_ms=spec.p99_ms,
        cpu_p95=float(np.quantile(busiest, 0.95)),
        cpu_mean=float(state.cores[state.active].mean()),
        memory_peak=float(state.memory.max()),
        replicas_min=int(counts.min()),
        replicas_max=int(counts.max()),
        coverage=float(sampled.mean()),
        gpu_mean=float(gpu.mean()) if gpu is not None and gpu.size else None,
    )


def latency_cdf(spec: Spec, bounds_s: Sequence[float]) -> Array:
    """Share of requests at or under each bound, for the spec's lognormal latency."""
    z = (np.log(np.asarray(bounds_s) * 1000) - math.log(spec.latency_median_ms)) / (
        spec.latency_sigma * math.sqrt(2)
    )
    return np.asarray(0.5 * (1 + _ERF(z)), dtype=np.float64)


_Values = Callable[["_State", int], npt.NDArray[np.float64] | npt.NDArray[np.int64]]


def _labels(**pairs: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in pairs.items())


class _Writer:
    """Formats one chunk of samples (indices ``lo:hi``) family by family."""

    def __init__(self, states: list[_State], ts: Array, lo: int, hi: int) -> None:
        self.states = states
        self.lo, self.hi = lo, hi
        self.tstr = [str(int(t)) for t in ts[lo:hi]]
        self.mean_s = {
            id(s): s.spec.latency_median_ms * math.exp(s.spec.latency_sigma**2 / 2) / 1000
            for s in states
        }

    def series(
        self,
        out: list[str],
        prefix: str,
        state: _State,
        r: int,
        values: npt.NDArray[np.float64] | npt.NDArray[np.int64],
    ) -> None:
        active = state.active[r, self.lo : self.hi]
        if not active.any():
            return
        chunk = values[self.lo : self.hi]
        if active.all():
            vals, times = chunk.tolist(), self.tstr
        else:
            keep = np.nonzero(active)[0]
            vals, times = chunk[keep].tolist(), [self.tstr[k] for k in keep]
        out.append("".join([f"{prefix} {v} {t}\n" for v, t in zip(vals, times, strict=True)]))

    def families(self) -> Iterator[str]:
        yield from self._requests()
        yield from self._latency()
        yield from self._gauge(
            MODEL_INFO, lambda s, r: np.ones(s.load.shape, dtype=np.int64), info=True
        )
        yield from self._process()
        yield from self._gpu()
        yield from self._containers()
        yield "# EOF\n"

    def _base(self, s: _State, r: int) -> str:
        return _labels(
            model=s.spec.model, version=s.spec.version, instance=s.instance(r), job="baton"
        )

    def _requests(self) -> Iterator[str]:
        family = REQUESTS_TOTAL.removesuffix("_total")
        out = [f"# TYPE {family} counter\n"]
        for s in self.states:
            if s.requests[:, -1].max() <= 0:  # no request yet: prometheus-client has no series
                continue
            for r in range(s.spec.max_replicas):
                labels = _labels(
                    model=s.spec.model,
                    version=s.spec.version,
                    code="200",
                    instance=s.instance(r),
                    job="baton",
                )
                self.series(out, f"{REQUESTS_TOTAL}{{{labels}}}", s, r, _int(s.requests[r]))
        yield "".join(out)

    def _latency(self) -> Iterator[str]:
        bounds = [*LATENCY_BUCKETS, math.inf]
        les = [floatToGoString(b) for b in bounds]  # type: ignore[no-untyped-call]
        yield f"# TYPE {REQUEST_DURATION} histogram\n"
        for s in self.states:
            cdf = latency_cdf(s.spec, LATENCY_BUCKETS)
            out: list[str] = []
            for r in range(s.spec.max_replicas):
                base = self._base(s, r)
                count = s.requests[r]
                for le, share in zip(les, [*cdf.tolist(), 1.0], strict=True):
                    prefix = f'{REQUEST_DURATION}_bucket{{{base},le="{le}"}}'
                    self.series(out, prefix, s, r, np.floor(count * share).astype(np.int64))
                total = count.astype(np.int64)
                self.series(out, f"{REQUEST_DURATION}_count{{{base}}}", s, r, total)
                self.series(
                    out,
                    f"{REQUEST_DURATION}_sum{{{base}}}",
                    s,
                    r,
                    np.round(count * self.mean_s[id(s)], 6),
                )
            yield "".join(out)

    def _gauge(
        self, name: str, values: _Values, *, info: bool = False, where: str = "all"
    ) -> Iterator[str]:
        out = [f"# TYPE {name} gauge\n"]
        for s in self.states:
            if where == "process" and not s.spec.process_metrics:
                continue
            if where == "nvml" and s.spec.gpu != "nvml":
                continue
            for r in range(s.spec.max_replicas):
                if info:
                    labels = _labels(
                        model=s.spec.model,
                        version=s.spec.version,
                        alias="production",
                        owner=s.spec.owner,
                        instance=s.instance(r),
                        job="baton",
                    )
                elif where == "nvml":
                    labels = _labels(gpu="0", instance=s.instance(r), job="baton")
                else:
                    labels = _labels(instance=s.instance(r), job="baton")
                self.series(out, f"{name}{{{labels}}}", s, r, values(s, r))
        yield "".join(out)

    def _process(self) -> Iterator[str]:
        out = ["# TYPE process_cpu_seconds counter\n"]
        for s in self.states:
            if not s.spec.process_metrics:
                continue
            for r in range(s.spec.max_replicas):
                labels = _labels(instance=s.instance(r), job="baton")
                self.series(out, f"{PROCESS_CPU}{{{labels}}}", s, r, _r3(s.cpu[r]))
        yield "".join(out)
        yield from self._gauge(
            PROCESS_RESIDENT_MEMORY,
            lambda s, r: _int(s.memory[r]),
            where="process",
        )

    def _gpu(self) -> Iterator[str]:
        yield from self._gauge(GPU_UTILIZATION, lambda s, r: _r3(s.gpu[r]), where="nvml")
        yield from self._gauge(
            GPU_MEMORY_USED,
            lambda s, r: np.full(s.load.shape, s.spec.gpu_memory_bytes),
            where="nvml",
        )

    def _pod_series(
        self, name: str, kind: str, values: _Values, want: str, container: bool
    ) -> Iterator[str]:
        out = [f"# TYPE {name.removesuffix('_total')} {kind}\n"]
        for s in self.states:
            if want == "cadvisor" and not s.spec.cadvisor:
                continue
            if want == "dcgm" and s.spec.gpu != "dcgm":
                continue
            for r in range(s.spec.max_replicas):
                pairs = {"namespace": s.spec.namespace, "pod": s.pod(r)}
                node = f"node-{s.index % 50}"
                if container:  # the server, and the pod-level total cAdvisor also exports
                    for c in ("server", ""):
                        labels = _labels(
                            **pairs, container=c, instance=f"{node}:10250", job="kubelet"
                        )
                        self.series(out, f"{name}{{{labels}}}", s, r, values(s, r))
                else:
                    if s.spec.dcgm_exported:  # namespace and pod are the exporter's own
                        pairs = {
                            "namespace": "gpu-operator",
                            "pod": f"dcgm-exporter-{node}",
                            "exported_namespace": s.spec.namespace,
                            "exported_pod": s.pod(r),
                        }
                    labels = _labels(**pairs, gpu="0", instance=f"{node}:9400", job="dcgm")
                    self.series(out, f"{name}{{{labels}}}", s, r, values(s, r))
        yield "".join(out)

    def _containers(self) -> Iterator[str]:
        yield from self._pod_series(
            "container_cpu_usage_seconds_total",
            "counter",
            lambda s, r: _r3(s.cpu[r] + 0.05 * np.cumsum(s.active[r]) * s.interval_s),
            "cadvisor",
            True,
        )
        yield from self._pod_series(
            "container_memory_working_set_bytes",
            "gauge",
            lambda s, r: _int(s.memory[r] + 32 * MIB),
            "cadvisor",
            True,
        )
        yield from self._pod_series(
            "DCGM_FI_DEV_GPU_UTIL", "gauge", lambda s, r: _int(s.gpu[r] * 100), "dcgm", False
        )
        yield from self._pod_series(
            "DCGM_FI_DEV_FB_USED",
            "gauge",
            lambda s, r: np.full(s.load.shape, round(s.spec.gpu_memory_bytes / MIB)),
            "dcgm",
            False,
        )


def _int(values: Array) -> npt.NDArray[np.int64]:
    return np.rint(values).astype(np.int64)


def _r3(values: Array) -> Array:
    return np.round(values, 3)


def write_openmetrics(
    fleet: SyntheticFleet, folder: Path, *, chunk_s: int = BLOCK_S
) -> Iterator[Path]:
    """Write the fleet as OpenMetrics files, one per aligned chunk, yielding each when done.

    The caller may backfill and delete each file as it comes, so the disk holds one chunk.
    """
    if chunk_s % BLOCK_S:
        raise ValueError(f"chunk_s must be a multiple of {BLOCK_S} s (a Prometheus block)")
    folder.mkdir(parents=True, exist_ok=True)
    ts = fleet.timestamps()
    states = [_state(spec, i, fleet) for i, spec in enumerate(fleet.specs)]
    chunk = np.floor(ts / chunk_s).astype(np.int64)
    edges = np.nonzero(np.diff(chunk))[0] + 1
    bounds = [0, *edges.tolist(), ts.size]
    for lo, hi in itertools.pairwise(bounds):
        path = folder / f"chunk-{int(ts[lo])}.om"
        with path.open("w", encoding="utf-8") as out:
            for text in _Writer(states, ts, lo, hi).families():
                out.write(text)
        yield path
