"""The audit's inventory: what is deployed and what it was given, from every source.

``gather`` combines three sources into ``core.inventory.Deployment`` values:

- **baton's own servers**, recorded in the store by every ``baton serve``. Servers that
  serve one model version are its replicas (``instances`` are their scrape addresses).
  A replica is given the cores it may run on (its CPU affinity, capped by its cgroup
  quota) and the memory it may use (its cgroup limit, else the machine's RAM); a server
  of several models splits them evenly, and so do servers sharing a machine without
  limits. Batch size, threads and precision are what the server recorded (the version's
  evaluated configuration with the operator's overrides).
- **Kubernetes and KServe manifests** (``audit.kubernetes``).
- **fleet.yaml** (``audit.fleet_file``).

A version described by a manifest or the fleet file as well as recorded by baton servers
(baton serving inside the pods of a Deployment) is taken from the description, which holds
the requests and replica bounds; the servers' addresses join it. Two descriptions of one
version are refused: Prometheus could not tell their series apart.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from baton.audit.fleet_file import read_fleet
from baton.audit.kubernetes import read_manifests
from baton.core.inventory import Deployment, Resources, Serving, check_unique, hardware_name
from baton.core.refs import Ref
from baton.errors import BadInput, BatonError
from baton.store.servers import ServerRecord
from baton.store.store import Store


@dataclass(frozen=True)
class Inventory:
    """The deployments to audit, and notes on what was skipped or assumed (for the report)."""

    deployments: list[Deployment]
    notes: list[str] = field(default_factory=list)


def gather(
    store: Store | None,
    manifests: Sequence[Path],
    fleet: Path | None,
    *,
    since: datetime | None = None,
) -> Inventory:
    """Every deployment from the store's servers, the manifests and the fleet file.

    ``since``: also take servers that stopped after it (the audit window's start); without
    it, only servers still running (a row never marked stopped whose process is gone from
    this machine is left out, with a note).
    """
    notes: list[str] = []
    declared: list[Deployment] = []
    if manifests:
        found, manifest_notes = read_manifests(manifests)
        declared.extend(found)
        notes.extend(manifest_notes)
    if fleet is not None:
        declared.extend(read_fleet(fleet))
    try:
        check_unique(declared)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    recorded = from_servers(store, since, notes) if store is not None else []
    by_key = {d.key: i for i, d in enumerate(declared)}
    deployments = list(declared)
    for d in recorded:
        if d.key not in by_key:
            deployments.append(d)
            continue
        i = by_key[d.key]
        described = deployments[i]
        notes.append(
            f"{d.model} version {d.version}: baton servers at {', '.join(d.instances)} are "
            f"taken as the replicas of {described.name} ({described.origin})"
        )
        if not described.instances:
            deployments[i] = described.model_copy(update={"instances": d.instances})
    try:
        check_unique(deployments)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    return Inventory(deployments, notes)


def _running_here(server: ServerRecord, hostname: str) -> bool:
    """False only when the server ran on this machine and its process is gone."""
    return server.hostname != hostname or os.path.exists(f"/proc/{server.pid}")


def from_servers(store: Store, since: datetime | None, notes: list[str]) -> list[Deployment]:
    """One deployment per model version that the recorded servers serve."""
    hostname = socket.gethostname()
    candidates = store.servers.live() if since is None else store.servers.all(since)
    latest: dict[str, ServerRecord] = {}
    for s in candidates:  # oldest first
        if s.live and not _running_here(s, hostname) and (since is None or s.started_at < since):
            # when it died is unknown: it counts only if it started within the window
            notes.append(
                f"baton server at {s.address} (pid {s.pid}) is gone without stopping "
                "cleanly: left out"
            )
            continue
        latest[s.address] = s  # a server restarted on its address is one replica, not two
    servers = list(latest.values())
    unlimited_cpu: dict[str, int] = defaultdict(int)
    unlimited_memory: dict[str, int] = defaultdict(int)
    for s in servers:
        unlimited_cpu[s.hostname] += s.cpu_limit is None
        unlimited_memory[s.hostname] += s.memory_limit_bytes is None
    for host, count in sorted(unlimited_cpu.items()):
        if count > 1:
            notes.append(
                f"{count} baton servers share {host} without CPU or memory limits: "
                "its cores and memory are split evenly between them"
            )
    replicas: dict[tuple[str, int], list[tuple[ServerRecord, Resources]]] = defaultdict(list)
    for s in servers:
        versions = sorted({(m.model, m.version) for m in s.models})
        if not versions:
            continue
        share = len(versions)
        cores = s.cores / (unlimited_cpu[s.hostname] if s.cpu_limit is None else 1)
        memory = s.memory_bytes / (
            unlimited_memory[s.hostname] if s.memory_limit_bytes is None else 1
        )
        if s.gpus and share > 1:
            notes.append(
                f"baton server at {s.address} serves {share} versions on {s.gpus} GPU(s): "
                "each is counted with all of them"
            )
        given = Resources(
            cores=cores / share,
            memory_bytes=memory / share,
            cpu_limit=s.cpu_limit / share if s.cpu_limit is not None else None,
            memory_limit_bytes=(
                s.memory_limit_bytes / share if s.memory_limit_bytes is not None else None
            ),
            gpus=s.gpus,
            hardware=hardware_name(s.gpu_model or "unknown") if s.gpus else "cpu",
        )
        for key in versions:
            replicas[key].append((s, given))
    return [_deployment(store, key, found, notes) for key, found in sorted(replicas.items())]


def _deployment(
    store: Store,
    key: tuple[str, int],
    found: list[tuple[ServerRecord, Resources]],
    notes: list[str],
) -> Deployment:
    model, version = key
    n = len(found)
    sizes = {(r.cores, r.memory_bytes, r.gpus, r.hardware) for _, r in found}
    if len(sizes) > 1:
        notes.append(
            f"{model}:{version}: its {n} servers were given different cores, memory or GPUs: "
            "the mean (GPUs: the first's) is used"
        )
    limits = [r.cpu_limit for _, r in found if r.cpu_limit is not None]
    memory_limits = [r.memory_limit_bytes for _, r in found if r.memory_limit_bytes is not None]
    resources = Resources(
        gpus=found[0][1].gpus,
        hardware=found[0][1].hardware,
        cores=sum(r.cores for _, r in found) / n,
        memory_bytes=sum(r.memory_bytes for _, r in found) / n,
        cpu_limit=sum(limits) / len(limits) if len(limits) == n else None,
        memory_limit_bytes=sum(memory_limits) / len(memory_limits)
        if len(memory_limits) == n
        else None,
    )
    first = found[0][0]
    served = next(m for m in first.models if (m.model, m.version) == key)
    serving = Serving(
        max_batch_size=served.max_batch_size,
        threads=served.threads,
        precision=served.precision if served.precision in ("fp32", "int8") else None,
        workers=first.workers,
    )
    if served.max_batch_size is None:
        serving = _evaluated(store, model, version, serving)
    owner = None
    with contextlib.suppress(BatonError):  # a version deleted since has no owner to show
        owner = store.registry.resolve(Ref(model, version=version)).owner
    addresses = tuple(sorted({s.address for s, _ in found}))
    return Deployment(
        name=f"{model}:{version}",
        model=model,
        version=str(version),
        source="baton",
        replicas=n,
        resources=resources,
        serving=serving,
        instances=addresses,
        owner=owner,
        origin=f"baton serve at {', '.join(addresses)}",
    )


def _evaluated(store: Store, model: str, version: int, serving: Serving) -> Serving:
    """Batch size, threads and precision from the version's latest evaluation, if any."""
    try:
        record = store.evaluations.latest(model, version)
    except BatonError:
        return serving
    if record is None or not record.recommended:
        return serving
    config = record.recommended
    precision = config.get("precision")
    return serving.model_copy(
        update={
            "max_batch_size": config.get("max_batch_size"),
            "threads": config.get("intra_op_threads"),
            "precision": precision if precision in ("fp32", "int8") else None,
        }
    )
