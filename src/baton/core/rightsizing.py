"""One deployment's right-sizing: its verdict, replicas, CPU, memory and cost, with reasons.

Pure functions from measured values (``core.sizing``'s contract) to a ``Recommendation``
*with its reasons*, in named stages: the verdicts reached before sizing (too little data,
idle, no capacity), the sizing itself (replicas or autoscaler bounds, the availability
floor, CPU from use, memory), and the judgement (at risk, under-, over-provisioned or
right-sized). ``cheapest_hardware`` picks among hardware options by cost.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from baton.core.cpu_request import cpu_request_from_use
from baton.core.pricing import Prices, per_million
from baton.core.sizing import (
    Allocation,
    Capacity,
    ObservedUsage,
    Recommendation,
    SizingPolicy,
    Verdict,
    autoscale_replicas,
    capacity_method,
    load_at_slo,
    replicas_needed,
)


@dataclass
class _Draft:
    """A recommendation being written: its current cost, baselines, reasons and flags."""

    usage: ObservedUsage
    now: float
    base_cpu: float | None
    base_mem: float | None
    reasons: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    def done(
        self,
        verdict: Verdict,
        sized: _Sized | None = None,
        *,
        replicas: int | None = None,
        after: float | None = None,
        per_replica: float | None = None,
    ) -> Recommendation:
        """The recommendation: sized, or with what a verdict reached before sizing knows."""
        if sized is not None:
            replicas, after, per_replica = sized.replicas, sized.after, sized.per_replica
        low, high = sized.bounds if sized is not None and sized.bounds else (None, None)
        return Recommendation(
            verdict=verdict,
            replicas=replicas,
            cores=sized.cores if sized else None,
            memory_bytes=sized.memory if sized else None,
            load_per_replica=per_replica,
            utilization=sized.utilization if sized else None,
            monthly_cost_now=self.now,
            monthly_cost_after=after,
            cost_per_million_now=per_million(self.now, self.usage.rps_mean),
            cost_per_million_after=per_million(after, self.usage.rps_mean),
            baseline_cpu_request=self.base_cpu,
            baseline_memory_request=self.base_mem,
            reasons=tuple(self.reasons),
            min_replicas=low,
            max_replicas=high,
            flags=tuple(self.flags),
            cpu_limit=sized.cpu_limit if sized else None,
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
        usage=usage,
        now=prices.monthly(paid_replicas, allocation.cores, allocation.memory_bytes,
                           allocation.gpus, allocation.hardware),
        base_cpu=usage.cpu_cores_p95,
        base_mem=(usage.memory_peak_bytes * (1 + policy.memory_margin)
                  if usage.memory_peak_bytes else None),
    )  # fmt: skip
    early = _unsizable(draft, capacity, slo_p99_ms, policy)
    if early is not None or capacity is None:
        return early or draft.done("insufficient data")
    per_replica = load_at_slo(capacity, slo_p99_ms)
    draft.reasons.append(
        f"one replica takes {per_replica:.4g} req/s within p99 {slo_p99_ms:g} ms "
        f"({capacity_method(capacity)})"
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
    return _Sized(
        per_replica=per_replica,
        utilization=utilization,
        replicas=replicas,
        bounds=bounds,
        cores=cores,
        cpu_limit=limit,
        memory=memory,
        after=after,
    )


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
    if sized.after < draft.now * (1 - policy.min_saving) or (
        not autoscaled and sized.replicas < allocation.replicas
    ):
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
