"""The audit's inventory: what is deployed and what it was given, from every source.

``gather`` combines three sources into ``core.inventory.Deployment`` values:

- **baton's own servers**, recorded in the store by every ``baton serve``. Servers that
  serve one model version are its replicas (``instances`` are their scrape addresses).
  A replica is given the cores it may run on (its CPU affinity, capped by its cgroup
  quota) and the memory it may use (its cgroup limit, else the machine's RAM); a server
  of several models splits them evenly and counts each with all of its GPUs
  (``core.inventory.split_between``, the rule manifests follow too), and servers sharing a
  machine without limits split it. Batch size, threads and precision are what the server
  recorded (the version's evaluated configuration with the operator's overrides).
- **Kubernetes and KServe manifests** (``audit.kubernetes``).
- **fleet.yaml** (``audit.fleet_file``).

A version described by a manifest or the fleet file as well as recorded by baton servers
(baton serving inside the pods of a Deployment) is taken from the description, which holds
the requests and replica bounds; the servers' addresses join it. Two descriptions of one
version are refused: Prometheus could not tell their series apart.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from baton.audit.fleet_file import read_fleet
from baton.audit.kubernetes import read_manifests
from baton.core.inventory import (
    SHARED_GPU_NOTE,
    Deployment,
    Resources,
    Serving,
    check_unique,
    hardware_name,
    split_between,
)
from baton.core.refs import Ref
from baton.errors import BadInput, BatonError
from baton.store.servers import ServerRecord
from baton.store.store import Store
from baton.store.tx import utcnow


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
    until: datetime | None = None,
) -> Inventory:
    """Every deployment from the store's servers, the manifests and the fleet file.

    ``since``: also take servers that stopped after it (the audit window's start), each
    counted for the part of the window up to ``until`` (default: now) that it ran; without
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
    recorded = from_servers(store, since, notes, until) if store is not None else []
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


def from_servers(
    store: Store, since: datetime | None, notes: list[str], until: datetime | None = None
) -> list[Deployment]:
    """One deployment per model version that the recorded servers serve, each server
    counted for the part of the window it ran."""
    servers = _recorded(store, since, notes)
    span = _Span(since, until or utcnow())
    cpu_share = _machine_shares(servers, span, lambda s: s.cpu_limit is None)
    memory_share = _machine_shares(servers, span, lambda s: s.memory_limit_bytes is None)
    for host, count in sorted(Counter(s.hostname for s in servers if s.cpu_limit is None).items()):
        if count > 1:
            notes.append(
                f"{count} baton servers share {host} without CPU or memory limits: "
                "its cores and memory are split between those running at the same time"
            )
    replicas: dict[tuple[str, int], list[tuple[ServerRecord, Resources]]] = defaultdict(list)
    for s in servers:
        versions = sorted({(m.model, m.version) for m in s.models})
        if not versions:
            continue
        if s.gpus and len(versions) > 1:
            notes.append(
                f"baton server at {s.address} serves {len(versions)} versions on {s.gpus} "
                f"GPU(s): {SHARED_GPU_NOTE}"
            )
        machine = Resources(
            cores=s.cores / cpu_share[s.id],
            memory_bytes=s.memory_bytes / memory_share[s.id],
            cpu_limit=s.cpu_limit,
            memory_limit_bytes=s.memory_limit_bytes,
            gpus=s.gpus,
            hardware=hardware_name(s.gpu_model or "unknown") if s.gpus else "cpu",
        )
        given = split_between(machine, len(versions))
        for key in versions:
            replicas[key].append((s, given))
    return [
        _timed(_deployment(store, key, got, notes), got, span, notes)
        for key, got in sorted(replicas.items())
    ]


def _recorded(store: Store, since: datetime | None, notes: list[str]) -> list[ServerRecord]:
    """The servers to count: live ones, and with ``since`` those that stopped after it."""
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
    return list(latest.values())


@dataclass(frozen=True)
class _Span:
    """The audit window; without a start, every server counts as running all of it."""

    since: datetime | None
    until: datetime

    def ran(self, s: ServerRecord) -> tuple[datetime, datetime]:
        begin = s.started_at if self.since is None else max(s.started_at, self.since)
        end = min(s.stopped_at or self.until, self.until)
        return begin, max(begin, end)

    def share(self, s: ServerRecord) -> float:
        """The part of the window a stopped server ran; a running one is paid for now (1)."""
        if self.since is None or s.stopped_at is None or s.stopped_at >= self.until:
            return 1.0
        begin, end = self.ran(s)
        window = (self.until - self.since).total_seconds()
        return (end - begin).total_seconds() / window if window > 0 else 1.0


def _machine_shares(
    servers: list[ServerRecord], span: _Span, unlimited: Callable[[ServerRecord], bool]
) -> dict[int, float]:
    """What a server's share of its machine is divided by: the unlimited servers running
    there beside it, over the time it ran (``1 / mean(1 / running)``), so a server that ran
    three seconds does not halve the share of one that ran all along."""
    out: dict[int, float] = {}
    for s in servers:
        others = [t for t in servers if t.hostname == s.hostname and unlimited(t)]
        if not unlimited(s):
            out[s.id] = 1.0
        elif span.since is None:  # live servers only: all of them run now
            out[s.id] = float(len(others))
        else:
            out[s.id] = _mean_divisor(span.ran(s), [span.ran(t) for t in others])
    return out


def _mean_divisor(run: tuple[datetime, datetime], runs: list[tuple[datetime, datetime]]) -> float:
    """``1 / mean(1 / n(t))`` over ``run``, n(t) the number of ``runs`` covering t."""
    begin, end = run
    if end <= begin:
        return 1.0
    cuts = sorted({begin, end, *(x for r in runs for x in r if begin < x < end)})
    share = 0.0
    for a, b in itertools.pairwise(cuts):
        running = sum(1 for lo, hi in runs if lo <= a and hi >= b)
        share += (b - a).total_seconds() / max(running, 1)
    return (end - begin).total_seconds() / share


def _timed(
    d: Deployment,
    found: list[tuple[ServerRecord, Resources]],
    span: _Span,
    notes: list[str],
) -> Deployment:
    """The deployment with its stopped servers counted for the time they ran."""
    shares = [span.share(s) for s, _ in found]
    if all(share >= 0.999 for share in shares):
        return d
    for (s, _), share in zip(found, shares, strict=True):
        if share < 0.999:
            begin, end = span.ran(s)
            notes.append(
                f"{d.name}: its server at {s.address} ran {_duration(end - begin)} of the "
                f"window: counted for that time"
            )
    return d.model_copy(update={"replicas_mean": sum(shares)})


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


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
    if record is None or record.recommended is None:
        return serving
    config = record.recommended
    return serving.model_copy(
        update={
            "max_batch_size": config.max_batch_size,
            "threads": config.intra_op_threads,
            "precision": config.precision,
        }
    )
