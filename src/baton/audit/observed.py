"""What Prometheus saw of one deployment over the audit window.

The contract between ``audit.observe`` (which builds it from the few queries ``audit.usage``
runs over all deployments at once) and the recommendation and report code (which read
it). ``None``
means "not measured", never zero; ``missing`` names each metric that had no data so the
report can say which data is missing instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from baton.core.sizing import ObservedUsage


@dataclass(frozen=True)
class Series:
    """One time series for plots: seconds since the epoch and values (NaN: no data)."""

    timestamps: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Observed:
    usage: ObservedUsage  # what core.rightsizing reads (rates, p99 latency, CPU p95, memory peak)
    rps_p99: float | None = None
    requests: float | None = None  # requests served over the window
    daily_pattern: tuple[float, ...] = ()  # mean req/s per UTC hour of day, 24 values
    replicas_min: float | None = None
    replicas_max: float | None = None
    replicas_mean: float | None = None
    cpu_cores_mean: float | None = None  # per replica
    cpu_source: str | None = None  # "process" (baton's own metrics) or "cadvisor"
    memory_source: str | None = None
    cpu_seconds_per_request: float | None = None  # served cost, from CPU and request counters
    gpu_memory_peak_bytes: float | None = None
    gpu_source: str | None = None  # "nvml" (baton) or "dcgm"
    slo_breach_share: float | None = None  # share of plot steps whose p99 exceeded the SLO
    data_from: float | None = None  # first sample seen in the window (epoch s)
    shared_models: int = 1  # models on its busiest server: CPU and memory are the server's
    missing: tuple[str, ...] = ()  # e.g. ("cpu", "memory", "latency")
    timeline: dict[str, Series] = field(default_factory=dict)  # rps, replicas, cpu, memory, p99_ms
