"""The sizing contract and the capacity model: how many replicas a load needs.

What the audit hands the sizing maths (``Capacity``, ``ObservedUsage``, ``Allocation``,
``SizingPolicy``) and what it gets back (``Recommendation``), with the capacity model
itself. Capacity comes from the evaluation profile: either the measured
latency-versus-load curve (the largest load whose p99 stays within the SLO), or, without
a curve, an M/M/1 queue per replica (p99 response time ``ln(100) / (mu - lambda)``), never
a straight division of the peak by the saturation throughput. The verdict and its reasons
are ``core.rightsizing``; prices are ``core.pricing``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Verdict = Literal[
    "insufficient data", "idle", "at risk", "under-provisioned", "over-provisioned", "right-sized"
]


@dataclass(frozen=True)
class Capacity:
    """What one replica of a serving configuration can do, as the profile measured it."""

    saturation_rps: float  # single-row requests/s at full load, latency aside
    cores: float = 1.0
    memory_bytes: float | None = None
    gpus: int = 0
    hardware: str = "cpu"
    curve: tuple[tuple[float, float], ...] = ()  # (offered req/s, p99 ms), measured
    at_slo_rps: float | None = None  # measured directly: a load test held at the SLO


@dataclass(frozen=True)
class ObservedUsage:
    """What Prometheus saw over the window, per deployment (None: not measured)."""

    rps_mean: float | None = None
    rps_p95: float | None = None
    rps_peak: float | None = None
    p99_latency_ms: float | None = None
    cpu_cores_p95: float | None = None  # per replica
    memory_peak_bytes: float | None = None  # per replica
    gpu_utilization_mean: float | None = None
    coverage: float = 1.0  # share of the window that has data


@dataclass(frozen=True)
class Allocation:
    replicas: int
    cores: float
    memory_bytes: float
    gpus: int = 0
    hardware: str = "cpu"
    max_replicas: int | None = None  # autoscaled: the HPA's upper bound
    min_replicas: int | None = None  # autoscaled: the HPA's lower bound
    mean_replicas: float | None = None  # observed over the window: what was paid for


@dataclass(frozen=True)
class SizingPolicy:
    headroom: float = 0.3  # spare capacity over the observed peak
    min_replicas: int = 2  # availability floor for a deployment that serves traffic
    min_coverage: float = 0.5
    idle_rps: float = 0.01  # below this peak: idle
    risk_utilization: float = 0.8  # peak above this share of capacity: at risk
    memory_margin: float = 0.15
    consolidate_share: float = 0.1  # peak + headroom below this share of one replica
    min_saving: float = 0.1  # cost after this share below cost now: over-provisioned


@dataclass(frozen=True)
class Recommendation:
    verdict: Verdict
    replicas: int | None
    cores: float | None
    memory_bytes: float | None
    load_per_replica: float | None  # req/s one replica takes within the SLO
    utilization: float | None  # observed peak / current capacity at the SLO
    monthly_cost_now: float | None
    monthly_cost_after: float | None
    cost_per_million_now: float | None
    cost_per_million_after: float | None
    baseline_cpu_request: float | None  # usage-percentile method: CPU p95
    baseline_memory_request: float | None  # usage-percentile method: peak + 15%
    reasons: tuple[str, ...]
    min_replicas: int | None = None  # autoscaled: recommended lower bound
    max_replicas: int | None = None  # autoscaled: recommended upper bound
    flags: tuple[str, ...] = ()  # "scale to zero", "consolidate", "SLO breached", ...
    cpu_limit: float | None = None  # None: the limit is the request (``cores``)

    @property
    def monthly_savings(self) -> float:
        if self.monthly_cost_now is None or self.monthly_cost_after is None:
            return 0.0
        return self.monthly_cost_now - self.monthly_cost_after


def load_at_slo(capacity: Capacity, slo_p99_ms: float) -> float:
    """Largest load (req/s) one replica takes with p99 within the SLO; 0 if it never does."""
    if capacity.at_slo_rps is not None:
        return capacity.at_slo_rps
    if capacity.curve:
        points = sorted(capacity.curve)
        best = 0.0
        worst = 0.0
        for load, p99 in points:
            worst = max(worst, p99)  # latency never improves as load grows
            if worst > slo_p99_ms:
                break
            best = load
        return min(best, capacity.saturation_rps)
    slo_s = slo_p99_ms / 1000
    return max(0.0, capacity.saturation_rps - math.log(100) / slo_s)


def replicas_needed(peak_rps: float, per_replica: float, policy: SizingPolicy) -> int:
    """Replicas that carry ``peak_rps`` plus headroom, never fewer than the floor."""
    if per_replica <= 0:
        raise ValueError("per-replica capacity must be positive")
    raw = math.ceil(round(peak_rps * (1 + policy.headroom) / per_replica, 9))
    return max(policy.min_replicas, raw, 1)


def autoscale_replicas(
    rps: Sequence[float], per_replica: float, policy: SizingPolicy
) -> tuple[int, int, float]:
    """Bounds and mean replicas an autoscaler following ``rps`` (one value per step) needs.

    Each step needs ``replicas_needed`` for its own load; the lower bound is the fewest any
    step needed (never below the availability floor), the upper bound the most, and the
    mean is what the deployment would pay for.
    """
    needed = [replicas_needed(r, per_replica, policy) for r in rps if math.isfinite(r)]
    if not needed:
        raise ValueError("no load samples to size an autoscaled deployment from")
    return min(needed), max(needed), sum(needed) / len(needed)


def capacity_method(capacity: Capacity) -> str:
    """How ``load_at_slo`` knows what one replica takes, in words for the reasons."""
    if capacity.at_slo_rps is not None:
        return "measured at the SLO"
    if capacity.curve:
        return "measured latency curve"
    return "M/M/1 queue from saturation"
