"""Right-sizing maths: how many replicas of what a model needs, and what that costs.

Pure functions from measured values to a recommendation *with its reasons*. Capacity
comes from the evaluation profile: either the measured latency-versus-load curve (the
largest load whose p99 stays within the SLO), or, without a curve, an M/M/1 queue per
replica (p99 response time ``ln(100) / (mu - lambda)``), never a straight division of
the peak by the saturation throughput.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

HOURS_PER_MONTH = 730.0
GIB = 1024**3
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
class Usage:
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


@dataclass(frozen=True)
class HardwareRate:
    """One hardware type's price per hour: per GPU, and its own CPU prices where they differ."""

    gpu_hour: float = 0.0
    core_hour: float | None = None  # None: the plain CPU price
    gib_hour: float | None = None


@dataclass(frozen=True)
class Prices:
    """Price per hour by hardware type; the defaults are examples, not quotes."""

    core_hour: float = 0.04
    gib_hour: float = 0.005
    hardware: Mapping[str, HardwareRate] = field(
        default_factory=lambda: {"nvidia-t4": HardwareRate(gpu_hour=0.35)}
    )

    def hourly(self, cores: float, memory_bytes: float, gpus: int, hardware: str) -> float:
        """One replica for one hour."""
        rate = self.hardware.get(hardware, HardwareRate())
        core = self.core_hour if rate.core_hour is None else rate.core_hour
        gib = self.gib_hour if rate.gib_hour is None else rate.gib_hour
        return cores * core + memory_bytes / GIB * gib + gpus * rate.gpu_hour

    def monthly(
        self, replicas: float, cores: float, memory_bytes: float, gpus: int, hardware: str
    ) -> float:
        return replicas * self.hourly(cores, memory_bytes, gpus, hardware) * HOURS_PER_MONTH


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


def _per_million(monthly: float | None, rps_mean: float | None) -> float | None:
    if monthly is None or not rps_mean:
        return None
    return monthly / (rps_mean * HOURS_PER_MONTH * 3600 / 1e6)


def cpu_cost_per_request(
    rps: Sequence[float], cpu_cores: Sequence[float], min_points: int = 12
) -> tuple[float, float] | None:
    """CPU seconds one request costs, and the idle cores, from paired per-replica samples.

    A least-squares line through (req/s, cores busy): its slope is the marginal cost of a
    request, its intercept the idle cost (drift sketches, the interpreter). Dividing total
    CPU by total requests instead would charge the idle cost to every request and, at low
    traffic, make a replica look many times slower than it is. None when the samples are too
    few or the traffic too steady to separate the two; the caller then says so.
    """
    pairs = [
        (x, y)
        for x, y in zip(rps, cpu_cores, strict=True)
        if math.isfinite(x) and math.isfinite(y) and x >= 0 and y >= 0
    ]
    if len(pairs) < min_points:
        return None
    n = len(pairs)
    mx = sum(x for x, _ in pairs) / n
    my = sum(y for _, y in pairs) / n
    sxx = sum((x - mx) ** 2 for x, _ in pairs)
    if mx <= 0 or sxx <= (0.1 * mx) ** 2 * n:  # traffic varies by less than 10%
        return None
    slope = sum((x - mx) * (y - my) for x, y in pairs) / sxx
    if slope <= 0:
        return None
    return slope, max(0.0, my - slope * mx)


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


def recommend(
    usage: Usage,
    allocation: Allocation,
    capacity: Capacity | None,
    slo_p99_ms: float,
    policy: SizingPolicy = SizingPolicy(),
    prices: Prices = Prices(),
    load_series: Sequence[float] = (),
) -> Recommendation:
    """One deployment's verdict, sizing and cost, each with the reason behind it.

    ``load_series`` (req/s per step over the window) sizes an autoscaled deployment
    (``allocation.max_replicas`` set): bounds and a mean replica count instead of one
    fixed count, so its cost after follows the traffic as its cost now does.
    """
    reasons: list[str] = []
    flags: list[str] = []
    paid_replicas = (
        allocation.mean_replicas if allocation.mean_replicas is not None else allocation.replicas
    )
    now = prices.monthly(
        paid_replicas,
        allocation.cores,
        allocation.memory_bytes,
        allocation.gpus,
        allocation.hardware,
    )
    base_cpu = usage.cpu_cores_p95
    base_mem = (
        usage.memory_peak_bytes * (1 + policy.memory_margin) if usage.memory_peak_bytes else None
    )

    def result(
        verdict: Verdict,
        replicas: int | None = None,
        cores: float | None = None,
        memory: float | None = None,
        per_replica: float | None = None,
        utilization: float | None = None,
        after: float | None = None,
        bounds: tuple[int, int] | None = None,
    ) -> Recommendation:
        return Recommendation(
            verdict,
            replicas,
            cores,
            memory,
            per_replica,
            utilization,
            now,
            after,
            _per_million(now, usage.rps_mean),
            _per_million(after, usage.rps_mean),
            base_cpu,
            base_mem,
            tuple(reasons),
            bounds[0] if bounds else None,
            bounds[1] if bounds else None,
            tuple(flags),
        )

    if usage.coverage < policy.min_coverage or usage.rps_peak is None:
        reasons.append(
            f"insufficient data: {usage.coverage:.0%} of the window has request metrics "
            f"(needs {policy.min_coverage:.0%})"
        )
        return result("insufficient data")
    if usage.rps_peak < policy.idle_rps:
        reasons.append(
            f"peak {usage.rps_peak:.3g} req/s over the window: idle; scale to zero or "
            "consolidate onto a shared server"
        )
        flags.append("scale to zero")
        return result("idle", replicas=0, after=0.0)
    if capacity is None:
        reasons.append(
            "insufficient data: no measured capacity for this version; run `baton evaluate` "
            "or give `capacity` in the inventory"
        )
        return result("insufficient data")

    per_replica = load_at_slo(capacity, slo_p99_ms)
    if per_replica <= 0:
        reasons.append(
            f"one replica cannot meet p99 {slo_p99_ms:g} ms at any load on {capacity.hardware}: "
            "use faster hardware or a lighter model"
        )
        flags.append("SLO unreachable")
        return result("at risk", per_replica=0.0)
    if capacity.at_slo_rps is not None:
        method = "measured at the SLO"
    elif capacity.curve:
        method = "measured latency curve"
    else:
        method = "M/M/1 queue from saturation"
    reasons.append(
        f"one replica takes {per_replica:.4g} req/s within p99 {slo_p99_ms:g} ms ({method})"
    )
    autoscaled = allocation.max_replicas is not None
    current_capacity = per_replica * (allocation.max_replicas or allocation.replicas)
    utilization = usage.rps_peak / current_capacity if current_capacity else math.inf
    replicas = replicas_needed(usage.rps_peak, per_replica, policy)
    reasons.append(
        f"peak {usage.rps_peak:.4g} req/s + {policy.headroom:.0%} headroom -> {replicas} "
        f"replica(s) (floor {policy.min_replicas})"
    )
    memory = (
        max(capacity.memory_bytes or 0.0, usage.memory_peak_bytes or 0.0)
        * (1 + policy.memory_margin)
        or allocation.memory_bytes
    )
    bounds: tuple[int, int] | None = None
    after_replicas: float = replicas
    if autoscaled and load_series:
        low, high, mean = autoscale_replicas(load_series, per_replica, policy)
        high = max(high, replicas)
        bounds = (low, high)
        after_replicas = mean
        reasons.append(
            f"autoscaled: bounds {low}..{high} follow the load (now "
            f"{allocation.min_replicas if allocation.min_replicas is not None else '?'}.."
            f"{allocation.max_replicas}), {mean:.2g} replicas on average"
        )
    after = prices.monthly(after_replicas, capacity.cores, memory, capacity.gpus, capacity.hardware)
    if usage.rps_peak * (1 + policy.headroom) < policy.consolidate_share * per_replica:
        flags.append("consolidate")
        reasons.append(
            f"peak uses under {policy.consolidate_share:.0%} of one replica: consolidate onto "
            "a shared server"
        )

    breached = usage.p99_latency_ms is not None and usage.p99_latency_ms > slo_p99_ms
    if breached:
        flags.append("SLO breached")
        reasons.append(
            f"observed p99 {usage.p99_latency_ms:.4g} ms breaches the {slo_p99_ms:g} ms SLO"
        )
        if utilization <= policy.risk_utilization:
            reasons.append(
                f"the breach is not from load (peak uses {utilization:.0%} of capacity): more "
                "replicas will not fix it; look at the model, its batch size or the hardware"
            )
    if utilization > policy.risk_utilization:
        flags.append("near capacity")
        reasons.append(f"peak uses {utilization:.0%} of current capacity at the SLO")
    ceiling = allocation.max_replicas if autoscaled else allocation.replicas
    if breached or utilization > policy.risk_utilization:
        verdict: Verdict = "at risk"
    elif replicas > (ceiling or 0):
        verdict = "under-provisioned"
    elif after < now * 0.9 or (not autoscaled and replicas < allocation.replicas):
        verdict = "over-provisioned"
    else:
        verdict = "right-sized"
    return result(
        verdict, replicas, capacity.cores, memory, per_replica, utilization, after, bounds
    )


def cheapest(
    usage: Usage,
    allocation: Allocation,
    options: Sequence[Capacity],
    slo_p99_ms: float,
    policy: SizingPolicy = SizingPolicy(),
    prices: Prices = Prices(),
    load_series: Sequence[float] = (),
) -> tuple[Capacity | None, Recommendation]:
    """Among hardware options (CPU, GPU...), the recommendation that costs least."""
    best: tuple[Capacity | None, Recommendation] | None = None
    for option in options:
        rec = recommend(usage, allocation, option, slo_p99_ms, policy, prices, load_series)
        if rec.monthly_cost_after is None or rec.verdict == "insufficient data":
            continue
        if rec.load_per_replica == 0:
            continue
        if best is None or rec.monthly_cost_after < (best[1].monthly_cost_after or math.inf):
            best = (option, rec)
    if best is None:
        first = options[0] if options else None
        return first, recommend(usage, allocation, first, slo_p99_ms, policy, prices, load_series)
    return best
