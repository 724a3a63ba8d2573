"""What one replica of a deployment can serve at its SLO, and where that figure came from.

In order of trust:

1. a load test held at the SLO, written in the inventory (``capacity: [{rps_at_slo}]``);
2. the server's own measured cost: the marginal CPU seconds a request took while serving
   (the slope of CPU against traffic over the window, ``core.cost_fit``), across the cores
   the replica can use in parallel, turned into a latency bound by a queue model. When the
   version has an evaluation, its profile's in-process throughput caps this (the HTTP path
   never makes the model faster). Near-idle or flat traffic gives no slope; a cost the
   server's own latency contradicts (longer than its p99, or "no load meets the SLO" from
   a server seen meeting it) is dropped, said so, and the next source is used;
3. the evaluation profile alone: the latency-versus-load curve of the configuration it
   recommended. That is the model's in-process ceiling, before the HTTP server's own cost
   (about 400x less for a tiny model, see bench/README.md), so it is used only when the
   server gave no usable measurement, and said so.

With none of these the audit reports "insufficient data" rather than guessing. A GPU
deployment whose GPU sits idle (``core.idle_gpu``) also gets a CPU option, from the
profile's best CPU configuration or, failing that, the CPU the server spent a request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from baton.audit.observed import Observed
from baton.core.cost_fit import CostFit, cpu_cost_per_request
from baton.core.evaluation import ProfileRow
from baton.core.idle_gpu import idle_gpu
from baton.core.inventory import Deployment
from baton.core.refs import Ref
from baton.core.serving_config import ServingConfig
from baton.core.sizing import Capacity, ObservedUsage, load_at_slo
from baton.errors import BatonError
from baton.store.store import Store

MIN_REQUESTS = 1000  # fewer served requests than this say little about per-request cost


@dataclass(frozen=True)
class CpuProfile:
    """The profile's best CPU configuration: the capacity a move off the GPU would have."""

    cores: float
    throughput_rps: float
    curve: tuple[tuple[float, float], ...]
    memory_bytes: float | None = None


@dataclass(frozen=True)
class Profiled:
    """The evaluation's view of a version: its SLO and recommended configuration."""

    slo_p99_ms: float | None
    cores: float
    memory_bytes: float | None
    throughput_rps: float | None
    curve: tuple[tuple[float, float], ...]
    config: ServingConfig | None
    cpu: CpuProfile | None = None


@dataclass(frozen=True)
class CapacityFinding:
    options: tuple[Capacity, ...]  # first: the deployment's current hardware
    source: str  # in words, for the report
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServedCost:
    """What a request cost the server in CPU, and the cores it burns idle."""

    per_request: float  # CPU seconds
    idle: float  # cores
    whole: bool = False  # total CPU / total requests: idle charged to requests (a bound)


def profiled(store: Store | None, model: str, version: str) -> Profiled | None:
    """The SLO and profile of a registered version; None when baton does not know it."""
    if store is None or not version.isdigit():
        return None
    try:
        info = store.registry.resolve(Ref(model, version=int(version)))
    except BatonError:
        return None
    slo = info.manifest.slo
    slo_ms = slo.p99_latency_ms if slo else None
    record = store.evaluations.latest(model, int(version))
    if record is None or record.recommended is None:
        return Profiled(slo_ms, 1.0, None, None, (), None)
    config = record.recommended
    profile = record.report.profile
    points = [p for p in (profile.points if profile else []) if _has_figures(p)]
    chosen = profile.recommended_row() if profile else None
    curve = _curve(points, chosen.config if chosen else None)
    cpu = None
    if not config.gpus and config.throughput_rps:
        cpu = CpuProfile(float(config.cores), config.throughput_rps, curve, config.memory_bytes)
    return Profiled(
        slo_ms,
        float(config.cores),
        config.memory_bytes,
        config.throughput_rps,
        curve,
        config,
        cpu or _best_cpu(points, slo_ms),
    )


def _has_figures(point: ProfileRow) -> bool:
    return point.throughput_rps is not None and point.served_p99_ms is not None


def _curve(points: list[ProfileRow], key: str | None) -> tuple[tuple[float, float], ...]:
    """(req/s, served p99 ms) of one configuration's points, by load."""
    return tuple(
        sorted(
            (p.throughput_rps or 0.0, p.served_p99_ms or 0.0)
            for p in points
            if key is not None and p.config == key
        )
    )


def _best_cpu(points: list[ProfileRow], slo_ms: float | None) -> CpuProfile | None:
    """The CPU configuration that serves most per core within the SLO, from its points."""
    best: tuple[float, CpuProfile] | None = None
    for p in points:
        within = slo_ms is None or (p.served_p99_ms or 0.0) <= slo_ms
        if p.gpus or not within or not p.throughput_rps:
            continue
        cores = float(p.cores or 1)
        per_core = p.throughput_rps / cores
        if best is None or per_core > best[0]:
            curve = _curve(points, p.config)
            best = (per_core, CpuProfile(cores, max(x for x, _ in curve), curve))
    return best[1] if best else None


def served_cost(observed: Observed | None) -> tuple[ServedCost | None, str]:
    """The CPU a request cost per replica while serving, or None and why not.

    The slope of CPU against traffic (``core.cost_fit``) when the traffic moved the CPU;
    else, for busy but steady traffic, the whole CPU over the requests: idle included, so
    an upper bound on the cost. None for a server shared by several models (its CPU is
    theirs together) or with too few requests to say anything.
    """
    if observed is None:
        return None, ""
    requests = observed.requests or 0
    if requests < MIN_REQUESTS:
        why = f"only {requests:.0f} requests in the window (needs {MIN_REQUESTS})"
        return None, (f"served cost not measured: {why}" if requests else "")
    if observed.shared_models > 1:
        return None, (
            f"its server is shared by {observed.shared_models} models: the served cost of "
            "one request cannot be told apart"
        )
    fit = _fit(observed)
    if fit.fitted and fit.per_request is not None:
        return ServedCost(fit.per_request, fit.idle or 0.0), ""
    if observed.cpu_seconds_per_request:
        return ServedCost(observed.cpu_seconds_per_request, 0.0, whole=True), fit.reason
    return None, f"served cost not measured: {fit.reason}"


def _fit(observed: Observed) -> CostFit:
    """The cost line through per-replica req/s and CPU over the window."""
    rps = observed.timeline.get("rps")
    cpu = observed.timeline.get("cpu")
    replicas = observed.timeline.get("replicas")
    if rps is None or cpu is None or replicas is None:
        return cpu_cost_per_request([], [])
    per_replica = [
        r / n if n and n > 0 and math.isfinite(n) else math.nan
        for r, n in zip(rps.values, replicas.values, strict=False)
    ]
    n = min(len(per_replica), len(cpu.values))
    return cpu_cost_per_request(per_replica[:n], list(cpu.values[:n]))


def _parallel(deployment: Deployment) -> float:
    """Cores a replica's requests can run on at once (a Python worker uses one)."""
    parallel = max(deployment.resources.cores, 0.1)
    if deployment.serving.workers is not None:
        parallel = min(parallel, float(deployment.serving.workers))
    return parallel


def _contradicted(
    cost: ServedCost, option: Capacity, parallel: float, usage: ObservedUsage, slo_ms: float
) -> str:
    """Why the served cost cannot be right, from what the server was seen to do ("": it can).

    A request takes at least its CPU time spread over the cores it may use, so a cost
    longer than the observed p99 is noise, not cost. And a server seen meeting the SLO
    met it at some load: a cost that says no load meets it is wrong. A bound (the whole
    cost) saying so is kept only where the server was seen breaching the SLO.
    """
    p99 = usage.p99_latency_ms
    what = "the whole CPU over the requests" if cost.whole else "the served cost"
    spread_ms = cost.per_request / parallel * 1000
    if p99 is not None and spread_ms > p99:
        return (
            f"{what} ({cost.per_request * 1000:.3g} ms CPU a request) is longer than the "
            f"observed p99 of {p99:.3g} ms: too little traffic to measure what a request costs"
        )
    if load_at_slo(option, slo_ms) > 0:
        return ""
    says = f"{what} ({cost.per_request * 1000:.3g} ms CPU a request) says no load meets p99"
    if p99 is not None and p99 <= slo_ms:
        return (
            f"{says} {slo_ms:g} ms, yet the server met it (p99 {p99:.3g} ms): too little "
            "or too flat traffic to measure what a request costs"
        )
    if p99 is None and cost.whole:
        return f"{says} {slo_ms:g} ms, and without latency data that bound cannot show it"
    return ""


def _load_tested(deployment: Deployment) -> CapacityFinding:
    options = tuple(
        Capacity(
            saturation_rps=o.rps_at_slo,
            cores=o.cores,
            memory_bytes=o.memory_bytes,
            gpus=o.gpus,
            hardware=o.hardware,
            at_slo_rps=o.rps_at_slo,
        )
        for o in deployment.capacity
    )
    return CapacityFinding(options, "load test at the SLO (inventory)")


def _served(
    deployment: Deployment, cost: ServedCost, profile: Profiled | None
) -> tuple[Capacity, str, list[str]]:
    """The capacity the served cost gives one replica of the current configuration."""
    res = deployment.resources
    parallel = _parallel(deployment)
    saturation = max(parallel - cost.idle, 0.0) / cost.per_request
    source = (
        f"served cost {cost.per_request * 1000:.3g} ms CPU per request x {parallel:g} "
        f"core(s) in parallel"
    )
    if cost.whole:
        source += " (idle CPU included: a bound)"
    if profile and profile.throughput_rps and profile.throughput_rps < saturation:
        saturation = profile.throughput_rps
        source += ", capped by the profile's in-process throughput"
    notes = [f"idle cost {cost.idle:.3g} cores per replica"] if cost.idle else []
    option = Capacity(
        saturation_rps=saturation,
        cores=res.cores or parallel,
        memory_bytes=profile.memory_bytes if profile else None,
        gpus=res.gpus,
        hardware=res.hardware,
    )
    return option, source, notes


def _profiled_option(deployment: Deployment, profile: Profiled) -> Capacity:
    return Capacity(
        saturation_rps=profile.throughput_rps or 0.0,
        cores=profile.cores,
        memory_bytes=profile.memory_bytes,
        gpus=deployment.resources.gpus,
        hardware=deployment.resources.hardware,
        curve=profile.curve,
    )


def capacity_for(
    deployment: Deployment,
    observed: Observed | None,
    profile: Profiled | None,
    slo_p99_ms: float,
) -> CapacityFinding:
    """The capacity of one replica, from the most trusted source that holds up (see above)."""
    if deployment.capacity:
        found = _load_tested(deployment)
    else:
        found = _measured(deployment, observed, profile, slo_p99_ms)
    return _with_cpu_option(found, deployment, observed, profile)


def _measured(
    deployment: Deployment, observed: Observed | None, profile: Profiled | None, slo_ms: float
) -> CapacityFinding:
    cost, why = served_cost(observed)
    notes = [why] if why else []
    if cost is not None and observed is not None:
        option, source, extra = _served(deployment, cost, profile)
        problem = _contradicted(cost, option, _parallel(deployment), observed.usage, slo_ms)
        if not problem:
            return CapacityFinding((option,), source, (*notes, *extra))
        notes.append(f"served cost not used: {problem}")
    if profile and profile.throughput_rps:
        notes.append("capacity comes from the in-process profile: the HTTP path costs more")
        return CapacityFinding(
            (_profiled_option(deployment, profile),),
            "evaluation profile (in-process; optimistic until the server has served traffic)",
            tuple(notes),
        )
    return CapacityFinding((), "none measured", tuple(notes))


def _with_cpu_option(
    found: CapacityFinding,
    deployment: Deployment,
    observed: Observed | None,
    profile: Profiled | None,
) -> CapacityFinding:
    """Beside an idle GPU, a CPU option: from the profile's CPU configuration, else the
    CPU the server spent a request (the GPU did little of the work)."""
    res = deployment.resources
    if res.gpus == 0 or observed is None or any(o.gpus == 0 for o in found.options):
        return found
    memory = observed.gpu_memory_peak_bytes
    if idle_gpu(observed.usage.gpu_utilization_mean, memory, res.hardware) is None:
        return found
    if profile is not None and profile.cpu is not None:
        cpu = profile.cpu
        option = Capacity(cpu.throughput_rps, cores=cpu.cores, memory_bytes=cpu.memory_bytes,
                          curve=cpu.curve)  # fmt: skip
        note = (
            f"CPU option: the profile's CPU configuration, {cpu.cores:g} core(s) at "
            f"{cpu.throughput_rps:.4g} req/s in-process"
        )
    else:
        cost, _ = served_cost(observed)
        if cost is None or cost.whole:
            note = "CPU option not measured: `baton evaluate` profiles the model on CPU"
            return replace(found, notes=(*found.notes, note))
        parallel = _parallel(deployment)
        option = Capacity(max(parallel - cost.idle, 0.0) / cost.per_request, cores=res.cores)
        note = (
            f"CPU option: {cost.per_request * 1000:.3g} ms CPU a request on {parallel:g} "
            "core(s), as served; what the GPU did is not in it: confirm with `baton evaluate`"
        )
    return replace(found, options=(*found.options, option), notes=(*found.notes, note))
