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
from dataclasses import dataclass, field, replace
from typing import Literal

from baton.core.cpu_request import cpu_request_from_use

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


def _per_million(monthly: float | None, rps_mean: float | None) -> float | None:
    if monthly is None or not rps_mean:
        return None
    return monthly / (rps_mean * HOURS_PER_MONTH * 3600 / 1e6)


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


@dataclass
class _Draft:
    """A recommendation being written: its current cost, baselines, reasons and flags."""

    usage: ObservedUsage
    now: float
    base_cpu: float | None
    base_mem: float | None
    reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def done(self, verdict: Verdict, sized: _Sized | None = None, **kw: float) -> Recommendation:
        after = sized.after if sized else kw.get("after")
        bounds = sized.bounds if sized else None
        return Recommendation(
            verdict,
            sized.replicas if sized else (int(kw["replicas"]) if "replicas" in kw else None),
            sized.cores if sized else None,
            sized.memory if sized else None,
            sized.per_replica if sized else kw.get("per_replica"),
            sized.utilization if sized else None,
            self.now,
            after,
            _per_million(self.now, self.usage.rps_mean),
            _per_million(after, self.usage.rps_mean),
            self.base_cpu,
            self.base_mem,
            tuple(self.reasons),
            bounds[0] if bounds else None,
            bounds[1] if bounds else None,
            tuple(self.flags),
            sized.cpu_limit if sized else None,
        )


@dataclass(frozen=True)
class _Sized:
    per_replica: float
    utilization: float
    replicas: int
    bounds: tuple[int, int] | None
    cores: float  # the request
    cpu_limit: float | None  # None: the request is the configuration's cores
    memory: float
    after: float


def recommend(
    usage: ObservedUsage,
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
    paid_replicas = (
        allocation.mean_replicas if allocation.mean_replicas is not None else allocation.replicas
    )
    draft = _Draft(
        usage,
        prices.monthly(paid_replicas, allocation.cores, allocation.memory_bytes,
                       allocation.gpus, allocation.hardware),
        usage.cpu_cores_p95,
        usage.memory_peak_bytes * (1 + policy.memory_margin) if usage.memory_peak_bytes else None,
    )  # fmt: skip
    early = _unsizable(draft, capacity, slo_p99_ms, policy)
    if early is not None or capacity is None:
        return early or draft.done("insufficient data")
    per_replica = load_at_slo(capacity, slo_p99_ms)
    draft.reasons.append(
        f"one replica takes {per_replica:.4g} req/s within p99 {slo_p99_ms:g} ms "
        f"({_method(capacity)})"
    )
    sized = _size(draft, allocation, capacity, per_replica, policy, prices, load_series)
    return draft.done(_judge(draft, allocation, sized, slo_p99_ms, policy), sized)


def _unsizable(
    draft: _Draft, capacity: Capacity | None, slo_p99_ms: float, policy: SizingPolicy
) -> Recommendation | None:
    """The verdicts reached before sizing: too little data, idle, no capacity, no load."""
    usage = draft.usage
    if usage.coverage < policy.min_coverage or usage.rps_peak is None:
        draft.reasons.append(
            f"insufficient data: {usage.coverage:.0%} of the window has request metrics "
            f"(needs {policy.min_coverage:.0%})"
        )
        return draft.done("insufficient data")
    if usage.rps_peak < policy.idle_rps:
        draft.reasons.append(
            f"peak {usage.rps_peak:.3g} req/s over the window: idle; scale to zero or "
            "consolidate onto a shared server"
        )
        draft.flags.append("scale to zero")
        return draft.done("idle", replicas=0, after=0.0)
    if capacity is None:
        draft.reasons.append(
            "insufficient data: no measured capacity for this version; run `baton evaluate` "
            "or give `capacity` in the inventory"
        )
        return draft.done("insufficient data")
    if load_at_slo(capacity, slo_p99_ms) <= 0:
        draft.reasons.append(
            f"one replica cannot meet p99 {slo_p99_ms:g} ms at any load on {capacity.hardware}: "
            "use faster hardware or a lighter model"
        )
        draft.flags.append("SLO unreachable")
        return draft.done("at risk", per_replica=0.0)
    return None


def _method(capacity: Capacity) -> str:
    if capacity.at_slo_rps is not None:
        return "measured at the SLO"
    if capacity.curve:
        return "measured latency curve"
    return "M/M/1 queue from saturation"


def _floor(
    draft: _Draft,
    allocation: Allocation,
    capacity: Capacity,
    per_replica: float,
    policy: SizingPolicy,
) -> SizingPolicy:
    """The policy whose floor applies: the availability floor does not add GPUs on its own."""
    peak = draft.usage.rps_peak or 0.0
    have = allocation.min_replicas if allocation.min_replicas is not None else allocation.replicas
    need = math.ceil(round(peak * (1 + policy.headroom) / per_replica, 9))
    if capacity.gpus == 0 or have >= policy.min_replicas or need >= policy.min_replicas:
        return policy
    kept = max(have, need, 1)
    draft.reasons.append(
        f"the availability floor of {policy.min_replicas} replicas does not add GPUs on its "
        f"own: {kept} kept; a CPU replica or a shared GPU gives the second"
    )
    return replace(policy, min_replicas=kept)


def _size(
    draft: _Draft,
    allocation: Allocation,
    capacity: Capacity,
    per_replica: float,
    policy: SizingPolicy,
    prices: Prices,
    load_series: Sequence[float],
) -> _Sized:
    """Replicas (or bounds), CPU, memory and cost after, for the peak plus headroom."""
    usage = draft.usage
    peak = usage.rps_peak or 0.0
    current_capacity = per_replica * (allocation.max_replicas or allocation.replicas)
    utilization = peak / current_capacity if current_capacity else math.inf
    floor = _floor(draft, allocation, capacity, per_replica, policy)
    replicas = replicas_needed(peak, per_replica, floor)
    draft.reasons.append(
        f"peak {peak:.4g} req/s + {policy.headroom:.0%} headroom -> {replicas} "
        f"replica(s) (floor {floor.min_replicas})"
    )
    memory = (
        max(capacity.memory_bytes or 0.0, usage.memory_peak_bytes or 0.0)
        * (1 + policy.memory_margin)
        or allocation.memory_bytes
    )
    bounds: tuple[int, int] | None = None
    after_replicas: float = replicas
    if allocation.max_replicas is not None and load_series:
        low, high, mean = autoscale_replicas(load_series, per_replica, floor)
        bounds = (low, max(high, replicas))
        after_replicas = mean
        draft.reasons.append(
            f"autoscaled: bounds {low}..{bounds[1]} follow the load (now "
            f"{allocation.min_replicas if allocation.min_replicas is not None else '?'}.."
            f"{allocation.max_replicas}), {mean:.2g} replicas on average"
        )
    cores, limit = _cpu(draft, allocation, capacity, after_replicas, policy)
    after = prices.monthly(after_replicas, cores, memory, capacity.gpus, capacity.hardware)
    if peak * (1 + policy.headroom) < policy.consolidate_share * per_replica:
        draft.flags.append("consolidate")
        draft.reasons.append(
            f"peak uses under {policy.consolidate_share:.0%} of one replica: consolidate onto "
            "a shared server"
        )
    return _Sized(per_replica, utilization, replicas, bounds, cores, limit, memory, after)


def _cpu(
    draft: _Draft,
    allocation: Allocation,
    capacity: Capacity,
    replicas_after: float,
    policy: SizingPolicy,
) -> tuple[float, float | None]:
    """(request, limit): from use when use is far below the configuration's cores."""
    p95 = draft.usage.cpu_cores_p95
    if p95 is None or capacity.hardware != allocation.hardware:
        return capacity.cores, None  # use on other hardware says nothing of this one
    now = allocation.mean_replicas if allocation.mean_replicas is not None else allocation.replicas
    request = cpu_request_from_use(p95, now, replicas_after, capacity.cores, policy.headroom)
    if request is None:
        return capacity.cores, None
    draft.reasons.append(
        f"CPU request {request:g} cores from use (p95 {p95:.3g} cores a replica, scaled to "
        f"the new count, + {policy.headroom:.0%} headroom), limit {capacity.cores:g} "
        "cores kept for bursts"
    )
    return request, capacity.cores


def _judge(
    draft: _Draft, allocation: Allocation, sized: _Sized, slo_p99_ms: float, policy: SizingPolicy
) -> Verdict:
    """At risk (SLO breached or near capacity), under-, over-provisioned or right-sized."""
    usage, utilization = draft.usage, sized.utilization
    breached = usage.p99_latency_ms is not None and usage.p99_latency_ms > slo_p99_ms
    if breached:
        draft.flags.append("SLO breached")
        draft.reasons.append(
            f"observed p99 {usage.p99_latency_ms:.4g} ms breaches the {slo_p99_ms:g} ms SLO"
        )
        if utilization <= policy.risk_utilization:
            draft.reasons.append(
                f"the breach is not from load (peak uses {utilization:.0%} of capacity): more "
                "replicas will not fix it; look at the model, its batch size or the hardware"
            )
    if utilization > policy.risk_utilization:
        draft.flags.append("near capacity")
        draft.reasons.append(f"peak uses {utilization:.0%} of current capacity at the SLO")
    autoscaled = allocation.max_replicas is not None
    ceiling = allocation.max_replicas if autoscaled else allocation.replicas
    if breached or utilization > policy.risk_utilization:
        return "at risk"
    if sized.replicas > (ceiling or 0):
        return "under-provisioned"
    if sized.after < draft.now * 0.9 or (not autoscaled and sized.replicas < allocation.replicas):
        return "over-provisioned"
    return "right-sized"


def cheapest_hardware(
    usage: ObservedUsage,
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
