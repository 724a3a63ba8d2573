"""The audit: inventory + usage + capacity -> one recommendation per deployment, with cost.

Everything here is orchestration; the maths is ``core.rightsizing`` and the data comes from
``audit.usage`` (a few Prometheus queries over the whole fleet) and ``audit.capacity``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from baton.audit.capacity import Profiled, capacity_for, profiled
from baton.audit.observed import Observed
from baton.audit.prices import PriceTable
from baton.audit.prometheus import Prometheus
from baton.audit.result import AuditResult, Row, SizingTarget
from baton.audit.usage import collect
from baton.core.idle_gpu import idle_gpu
from baton.core.inventory import Deployment
from baton.core.policy import Policy
from baton.core.pricing import Prices
from baton.core.rightsizing import cheapest_hardware, recommend
from baton.core.sizing import (
    Allocation,
    Capacity,
    ObservedUsage,
    Recommendation,
    SizingPolicy,
)
from baton.store.store import Store

DEFAULT_SLO_MS = Policy().default_slo.p99_latency_ms or 100.0
Progress = Callable[[int, int], None]


def run_audit(
    deployments: Sequence[Deployment],
    prometheus: Prometheus,
    start: float,
    end: float,
    *,
    prices: PriceTable,
    policy: SizingPolicy = SizingPolicy(),
    store: Store | None = None,
    rate_window_s: float = 300.0,
    progress: Progress | None = None,
) -> AuditResult:
    began = time.perf_counter()
    profiles = {d.name: profiled(store, d.model, d.version) for d in deployments}
    slos, slo_notes = _slos(deployments, profiles)
    usage = collect(
        prometheus,
        deployments,
        start,
        end,
        rate_window_s=rate_window_s,
        slo_p99_ms=slos,
        progress=progress,
    )
    sizing_prices = prices.to_sizing()
    rows = []
    for d in deployments:
        observed = usage.by_name.get(d.name)
        rows.append(
            size_deployment(
                d,
                observed,
                profiles[d.name],
                slos[d.name],
                slo_notes.get(d.name),
                policy,
                sizing_prices,
                prices.currency,
            )
        )
    return AuditResult(
        prometheus_url=prometheus.url,
        start=start,
        end=end,
        step_s=usage.step_s,
        plot_step_s=usage.plot_step_s,
        queries=prometheus.queries,
        elapsed_s=time.perf_counter() - began,
        rows=tuple(rows),
        prices=prices.to_report(),
        notes=tuple(usage.notes),
        settings={
            **asdict(policy),
            "window_s": end - start,
            "rate_window_s": rate_window_s,
        },
    )


def _slos(
    deployments: Sequence[Deployment], profiles: dict[str, Profiled | None]
) -> tuple[dict[str, float], dict[str, str]]:
    """Each deployment's p99 SLO: its own, else its manifest's, else the default (noted)."""
    slos: dict[str, float] = {}
    notes: dict[str, str] = {}
    for d in deployments:
        prof = profiles[d.name]
        if d.slo_p99_ms is not None:
            slos[d.name] = d.slo_p99_ms
        elif prof is not None and prof.slo_p99_ms is not None:
            slos[d.name] = prof.slo_p99_ms
        else:
            slos[d.name] = DEFAULT_SLO_MS
            notes[d.name] = f"no SLO stated: held to the default p99 {DEFAULT_SLO_MS:g} ms"
    return slos, notes


def size_deployment(
    d: Deployment,
    observed: Observed | None,
    profile: Profiled | None,
    slo_ms: float,
    slo_note: str | None,
    policy: SizingPolicy,
    prices: Prices,
    currency: str = "USD",
) -> Row:
    """One deployment's row: its capacity, the cheapest sizing that meets the SLO, why."""
    use = _usage(observed)
    finding = capacity_for(d, observed, profile, slo_ms)
    allocation = _allocation(d, observed)
    load = _load_series(observed)
    sizing = (use, allocation, finding.options, slo_ms, policy, prices, load)
    chosen, rec = cheapest_hardware(*sizing)
    extra: list[str] = [slo_note] if slo_note else []
    flags = list(rec.flags)
    if observed is not None and observed.shared_models > 1:
        extra.append(
            f"its server serves {observed.shared_models} models: its CPU and memory are split "
            "evenly among them, as is its allocation"
        )
    extra.append(f"capacity: {finding.source}")
    extra.extend(finding.notes)
    if observed is not None and observed.missing:
        extra.append("missing from Prometheus: " + ", ".join(observed.missing))
    if chosen is not None and chosen.hardware != d.resources.hardware and rec.replicas:
        flags.append(f"move to {chosen.hardware}")
        extra.append(
            f"{chosen.hardware} meets the SLO for less than {d.resources.hardware}: "
            f"{rec.replicas} replica(s) of {_each(chosen)}"
        )
    verdict = rec.verdict
    idle = _idle_gpu(d, observed)
    if idle is not None:
        flags.append("idle GPU")
        extra.append(idle)
        if chosen is not None and chosen.gpus and rec.replicas:
            extra.extend(_cpu_beside(finding.options, sizing, currency))
        if verdict in ("right-sized", "under-provisioned"):  # a GPU idling is paid for idle
            verdict = "over-provisioned"
    elif use.gpu_utilization_mean is not None:
        extra.append(f"GPU busy {use.gpu_utilization_mean:.0%} on average")
    recommendation = replace(
        rec, verdict=verdict, reasons=rec.reasons + tuple(extra), flags=tuple(flags)
    )
    return Row(
        deployment=d,
        observed=observed,
        recommendation=recommendation,
        target=_target(d, chosen, rec, profile),
        slo_p99_ms=slo_ms,
        capacity_source=finding.source,
    )


def _usage(observed: Observed | None) -> ObservedUsage:
    """What the deployment used; a shared server's CPU and memory split evenly, as the
    inventory splits its allocation."""
    if observed is None:
        return ObservedUsage(coverage=0.0)
    use, shared = observed.usage, observed.shared_models
    if shared <= 1:
        return use
    cpu, memory = use.cpu_cores_p95, use.memory_peak_bytes
    return replace(
        use,
        cpu_cores_p95=cpu / shared if cpu is not None else None,
        memory_peak_bytes=memory / shared if memory is not None else None,
    )


def _allocation(d: Deployment, observed: Observed | None) -> Allocation:
    """What it was given, and paid for: an autoscaled deployment its mean replicas seen, a
    deployment whose servers ran part of the window the replicas counted for that time."""
    res = d.resources
    mean = d.replicas_mean
    if d.autoscaled:
        mean = observed.replicas_mean if observed is not None else None
    return Allocation(
        replicas=d.replicas,
        cores=res.cores,
        memory_bytes=res.memory_bytes,
        gpus=res.gpus,
        hardware=res.hardware,
        max_replicas=d.max_replicas if d.autoscaled else None,
        min_replicas=d.min_replicas if d.autoscaled else None,
        mean_replicas=mean,
    )


def _each(option: Capacity) -> str:
    return f"{option.gpus} GPU(s)" if option.gpus else f"{option.cores:g} core(s)"


def _idle_gpu(d: Deployment, observed: Observed | None) -> str | None:
    if d.resources.gpus == 0 or observed is None:
        return None
    use = observed.usage
    return idle_gpu(use.gpu_utilization_mean, observed.gpu_memory_peak_bytes, d.resources.hardware)


def _cpu_beside(options: Sequence[Capacity], sizing: tuple[Any, ...], currency: str) -> list[str]:
    """The CPU option, priced, beside a recommendation that keeps the GPU."""
    out = []
    for option in options:
        if option.gpus:
            continue
        rec = recommend(sizing[0], sizing[1], option, *sizing[3:])
        if rec.replicas and rec.monthly_cost_after is not None:
            out.append(
                f"on CPU instead: {rec.replicas} replica(s) of {_each(option)}, "
                f"{rec.monthly_cost_after:,.0f} {currency}/month"
            )
    return out


def _target(
    d: Deployment, chosen: Capacity | None, rec: Recommendation, profile: Profiled | None
) -> SizingTarget:
    res, serving = d.resources, d.serving
    config = profile.config if profile is not None else None
    return SizingTarget(
        replicas=rec.replicas,
        min_replicas=rec.min_replicas,
        max_replicas=rec.max_replicas,
        cores=rec.cores,
        cpu_limit=rec.cpu_limit if rec.cpu_limit is not None else rec.cores,
        memory_bytes=rec.memory_bytes,
        memory_limit_bytes=rec.memory_bytes,
        gpus=chosen.gpus if chosen is not None else res.gpus,
        hardware=chosen.hardware if chosen is not None else res.hardware,
        max_batch_size=(config.max_batch_size if config else None) or serving.max_batch_size,
        threads=(config.intra_op_threads if config else None) or serving.threads,
        precision=(config.precision if config else None) or serving.precision,
    )


def _load_series(observed: Observed | None) -> list[float]:
    if observed is None or "rps" not in observed.timeline:
        return []
    return [v for v in observed.timeline["rps"].values if math.isfinite(v)]
