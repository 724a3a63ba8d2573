"""What one replica of a deployment can serve at its SLO, and where that figure came from.

In order of trust:

1. a load test held at the SLO, written in the inventory (``capacity: [{rps_at_slo}]``);
2. the server's own measured cost: the marginal CPU seconds a request took while serving
   (the slope of CPU against traffic over the window), across the cores the replica can
   use in parallel, turned into a latency bound by a queue model. When the version has an
   evaluation, its profile's in-process throughput caps this (the HTTP path never makes
   the model faster);
3. the evaluation profile alone: the latency-versus-load curve of the configuration it
   recommended. That is the model's in-process ceiling, before the HTTP server's own cost
   (about 400x less for a tiny model, see bench/README.md), so it is used only when the
   server gave no usable measurement, and said so.

With none of these the audit reports "insufficient data" rather than guessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from baton.audit.observed import Observed
from baton.core.inventory import Deployment
from baton.core.manifest import Manifest
from baton.core.refs import Ref
from baton.core.sizing import Capacity, cpu_cost_per_request
from baton.errors import BatonError
from baton.store.store import Store

MIN_REQUESTS = 1000  # fewer served requests than this say little about per-request cost


@dataclass(frozen=True)
class Profiled:
    """The evaluation's view of a version: its SLO and recommended configuration."""

    slo_p99_ms: float | None
    cores: float
    memory_bytes: float | None
    throughput_rps: float | None
    curve: tuple[tuple[float, float], ...]
    config: dict[str, Any]


@dataclass(frozen=True)
class CapacityFinding:
    options: tuple[Capacity, ...]  # first: the deployment's current hardware
    source: str  # in words, for the report
    notes: tuple[str, ...] = ()


def profiled(store: Store | None, model: str, version: str) -> Profiled | None:
    """The SLO and profile of a registered version; None when baton does not know it."""
    if store is None or not version.isdigit():
        return None
    try:
        info = store.registry.resolve(Ref(model, version=int(version)))
    except BatonError:
        return None
    slo = Manifest.model_validate(info.manifest).slo
    slo_ms = slo.p99_latency_ms if slo else None
    record = store.evaluations.latest(model, int(version))
    if record is None or not record.recommended:
        return Profiled(slo_ms, 1.0, None, None, (), {})
    config = record.recommended
    points = record.report.get("profile", {}).get("points", [])
    chosen = record.report.get("profile", {}).get("recommended_point")
    key = next((p.get("config") for p in points if p.get("key") == chosen), None)
    curve = tuple(
        sorted(
            (float(p["throughput_rps"]), float(p["served_p99_ms"]))
            for p in points
            if key is not None and p.get("config") == key
        )
    )
    return Profiled(
        slo_ms,
        float(config.get("cores") or 1),
        config.get("memory_bytes"),
        config.get("throughput_rps"),
        curve,
        config,
    )


def served_cost(observed: Observed | None) -> tuple[float, float] | None:
    """(CPU seconds per request, idle cores) per replica, measured while serving.

    None for a server shared by several models: its CPU is theirs together, and one
    model's traffic cannot say what its own requests cost.
    """
    if observed is None or (observed.requests or 0) < MIN_REQUESTS:
        return None
    if observed.shared_models > 1:
        return None
    rps = observed.timeline.get("rps")
    cpu = observed.timeline.get("cpu")
    replicas = observed.timeline.get("replicas")
    if rps is not None and cpu is not None and replicas is not None:
        per_replica = [
            r / n if n and n > 0 and math.isfinite(n) else math.nan
            for r, n in zip(rps.values, replicas.values, strict=False)
        ]
        n = min(len(per_replica), len(cpu.values))
        found = cpu_cost_per_request(per_replica[:n], list(cpu.values[:n]))
        if found is not None:
            return found
    if observed.cpu_seconds_per_request:
        return observed.cpu_seconds_per_request, 0.0  # idle cost included: conservative
    return None


def _shared_note(observed: Observed | None) -> tuple[str, ...]:
    """Why a busy shared server gave no served cost (``served_cost`` refuses it)."""
    if observed is None or observed.shared_models < 2 or (observed.requests or 0) < MIN_REQUESTS:
        return ()
    return (
        f"its server is shared by {observed.shared_models} models: the served cost of one "
        "request cannot be told apart",
    )


def capacity_for(
    deployment: Deployment, observed: Observed | None, profile: Profiled | None
) -> CapacityFinding:
    res = deployment.resources
    if deployment.capacity:
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
    memory = profile.memory_bytes if profile else None
    cost = served_cost(observed)
    shared_note = _shared_note(observed)
    if cost is not None:
        per_request, idle = cost
        parallel = max(res.cores, 0.1)
        if deployment.serving.workers is not None:
            parallel = min(parallel, float(deployment.serving.workers))
        saturation = max(parallel - idle, 0.0) / per_request
        notes = []
        source = (
            f"served cost {per_request * 1000:.3g} ms CPU per request x {parallel:g} "
            f"core(s) in parallel"
        )
        if profile and profile.throughput_rps and profile.throughput_rps < saturation:
            saturation = profile.throughput_rps
            source += ", capped by the profile's in-process throughput"
        if idle:
            notes.append(f"idle cost {idle:.3g} cores per replica")
        option = Capacity(
            saturation_rps=saturation,
            cores=res.cores or parallel,
            memory_bytes=memory,
            gpus=res.gpus,
            hardware=res.hardware,
        )
        return CapacityFinding((option,), source, tuple(notes))
    if profile and profile.throughput_rps:
        option = Capacity(
            saturation_rps=profile.throughput_rps,
            cores=profile.cores,
            memory_bytes=memory,
            gpus=res.gpus,
            hardware=res.hardware,
            curve=profile.curve,
        )
        return CapacityFinding(
            (option,),
            "evaluation profile (in-process; optimistic until the server has served traffic)",
            ("capacity comes from the in-process profile: the HTTP path costs more",
             *shared_note),
        )  # fmt: skip
    return CapacityFinding((), "none measured", shared_note)
