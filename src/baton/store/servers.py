"""Servers baton started: each ``baton serve`` records itself, its models and its resources;
each ``baton router`` records itself the same way (role ``router``) with its routing: the
model it fronts, each variant's server and weight, updated at every weight change.

A server writes a row when it starts and marks it stopped when it stops; a server that
was killed leaves its row open, so a new server on the same machine and address closes
any open row there first (two servers cannot listen on one port). The right-size audit
reads the ``server`` rows as its inventory of baton's own servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.errors import NotFound
from baton.store.server_tables import servers
from baton.store.tx import append_entry, insert_id, read, utcnow, write


class ServedModelJSON(TypedDict):
    """A served model as the ``models`` column (and the log's detail) holds it; rows written
    before a field existed lack it."""

    model: str
    version: int
    alias: NotRequired[str | None]
    max_batch_size: NotRequired[int | None]
    threads: NotRequired[int | None]
    precision: NotRequired[str | None]


@dataclass(frozen=True)
class ServedModel:
    """One model version a server serves, the alias it follows (None: pinned), and how it
    runs it (None: not recorded)."""

    model: str
    version: int
    alias: str | None = None
    max_batch_size: int | None = None
    threads: int | None = None
    precision: str | None = None

    def as_json(self) -> ServedModelJSON:
        return {
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "max_batch_size": self.max_batch_size,
            "threads": self.threads,
            "precision": self.precision,
        }

    @classmethod
    def from_json(cls, value: ServedModelJSON) -> ServedModel:
        return cls(
            str(value["model"]),
            int(value["version"]),
            value.get("alias"),
            value.get("max_batch_size"),
            value.get("threads"),
            value.get("precision"),
        )


Role = Literal["server", "router"]


@dataclass(frozen=True)
class RoutedVariant:
    """One variant of a router: its server (None: none yet) and its percent of requests."""

    variant: str  # stable | baseline | canary
    url: str | None
    weight: float


@dataclass(frozen=True)
class Routing:
    """What a router applies: generation 1 at start, one more per weight change."""

    model: str
    generation: int
    variants: tuple[RoutedVariant, ...]
    sticky_header: str | None = None

    def weights(self) -> dict[str, float]:
        return {v.variant: v.weight for v in self.variants}

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "generation": self.generation,
            "variants": [{"variant": v.variant, "url": v.url, "weight": v.weight}
                         for v in self.variants],
            "sticky_header": self.sticky_header,
        }  # fmt: skip

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Routing:
        return cls(
            str(value["model"]),
            int(value["generation"]),
            tuple(
                RoutedVariant(str(v["variant"]), v.get("url"), float(v["weight"]))
                for v in value["variants"]
            ),
            value.get("sticky_header"),
        )


@dataclass(frozen=True)
class ServerFacts:
    """What a starting server says of itself: where it listens and what it may use."""

    host: str  # the address Prometheus scrapes (never 0.0.0.0)
    port: int
    hostname: str
    pid: int
    workers: int
    cpu_affinity: tuple[int, ...]  # CPU ids the process may run on
    cpu_limit: float | None  # cores, from the cgroup quota; None: unlimited
    memory_limit_bytes: int | None  # the cgroup limit; None: unlimited
    memory_total_bytes: int  # the machine's RAM
    gpus: int = 0  # GPUs it can see (NVML, within CUDA_VISIBLE_DEVICES)
    gpu_model: str | None = None  # NVML's name of the first, e.g. "Tesla T4"


@dataclass(frozen=True)
class ServerRecord:
    id: int
    host: str
    port: int
    hostname: str
    pid: int
    workers: int
    models: tuple[ServedModel, ...]
    cpu_affinity: tuple[int, ...]
    cpu_limit: float | None
    memory_limit_bytes: int | None
    memory_total_bytes: int
    gpus: int
    gpu_model: str | None
    started_at: datetime
    started_by: str
    updated_at: datetime
    stopped_at: datetime | None
    role: Role = "server"
    routing: Routing | None = None  # a router's; None for a server

    @property
    def address(self) -> str:
        """``host:port``, as Prometheus labels its series ``instance``."""
        return f"{self.host}:{self.port}"

    @property
    def live(self) -> bool:
        return self.stopped_at is None

    @property
    def cores(self) -> float:
        """Cores it may use: the CPUs it is pinned to, capped by the cgroup quota."""
        pinned = float(len(self.cpu_affinity)) if self.cpu_affinity else None
        limits = [c for c in (pinned, self.cpu_limit) if c is not None]
        return min(limits) if limits else 1.0

    @property
    def memory_bytes(self) -> int:
        """Memory it may use: the cgroup limit, else the machine's RAM."""
        return self.memory_limit_bytes or self.memory_total_bytes


def _models_json(models: Sequence[ServedModel]) -> list[ServedModelJSON]:
    return [m.as_json() for m in models]


def _record(row: sa.Row[Any]) -> ServerRecord:
    return ServerRecord(
        id=row.id,
        host=row.host,
        port=row.port,
        hostname=row.hostname,
        pid=row.pid,
        workers=row.workers,
        models=tuple(ServedModel.from_json(m) for m in row.models),
        cpu_affinity=tuple(int(c) for c in row.cpu_affinity),
        cpu_limit=row.cpu_limit,
        memory_limit_bytes=row.memory_limit_bytes,
        memory_total_bytes=row.memory_total_bytes,
        gpus=row.gpus,
        gpu_model=row.gpu_model,
        started_at=row.started_at,
        started_by=row.started_by,
        updated_at=row.updated_at,
        stopped_at=row.stopped_at,
        role=row.role,
        routing=None if row.routing is None else Routing.from_json(row.routing),
    )


def _start_detail(
    server_id: int,
    facts: ServerFacts,
    models: Sequence[ServedModel],
    stale: list[int],
    routing: Routing | None,
) -> dict[str, object]:
    """The audit entry of a start: where, what, and the stale rows it closed."""
    detail: dict[str, object] = {
        "server": server_id,
        "address": f"{facts.host}:{facts.port}",
        "hostname": facts.hostname,
        "models": _models_json(models),
        "closed_stale": stale,
    }
    if routing is not None:
        detail["routing"] = routing.as_json()
    return detail


class Servers:
    """Record servers as they start, swap versions and stop; list them for the right-size audit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def started(
        self,
        facts: ServerFacts,
        models: Sequence[ServedModel],
        actor: str,
        *,
        routing: Routing | None = None,
    ) -> int:
        """Record a starting server (a router when ``routing`` is given); returns its id
        (for ``stopped``, ``update_models`` and ``update_routing``).

        An open row for the same machine and address belongs to a server that died without
        saying so: it is closed now, since the new server holds that port.
        """
        role: Role = "server" if routing is None else "router"

        def work(conn: sa.Connection) -> int:
            now = utcnow()
            same_place = sa.and_(
                servers.c.hostname == facts.hostname,
                servers.c.host == facts.host,
                servers.c.port == facts.port,
                servers.c.stopped_at.is_(None),
            )
            stale = list(conn.execute(sa.select(servers.c.id).where(same_place)).scalars())
            if stale:
                conn.execute(servers.update().where(same_place).values(stopped_at=now))
            new_id = insert_id(
                conn,
                servers.insert().values(
                    host=facts.host,
                    port=facts.port,
                    hostname=facts.hostname,
                    pid=facts.pid,
                    workers=facts.workers,
                    models=_models_json(models),
                    cpu_affinity=list(facts.cpu_affinity),
                    cpu_limit=facts.cpu_limit,
                    memory_limit_bytes=facts.memory_limit_bytes,
                    memory_total_bytes=facts.memory_total_bytes,
                    gpus=facts.gpus,
                    gpu_model=facts.gpu_model,
                    started_at=now,
                    started_by=actor,
                    updated_at=now,
                    role=role,
                    routing=None if routing is None else routing.as_json(),
                ),
            )
            detail = _start_detail(new_id, facts, models, stale, routing)
            append_entry(conn, actor, f"{role}.start", detail=detail)
            return new_id

        return write(self.engine, work)

    def stopped(self, server_id: int, actor: str) -> None:
        """Mark a server stopped (idempotent: the first stop time is kept)."""

        def work(conn: sa.Connection) -> None:
            self._require(conn, server_id)
            record = self._require(conn, server_id)
            done = conn.execute(
                servers.update()
                .where(servers.c.id == server_id, servers.c.stopped_at.is_(None))
                .values(stopped_at=utcnow())
            ).rowcount
            if done:
                append_entry(conn, actor, f"{record.role}.stop", detail={"server": server_id})

        write(self.engine, work)

    def update_models(self, server_id: int, models: Sequence[ServedModel], actor: str) -> None:
        """Record what a server serves now (after a hot swap); no entry if nothing changed."""

        def work(conn: sa.Connection) -> None:
            before = self._require(conn, server_id)
            if before.models == tuple(models):
                return
            conn.execute(
                servers.update()
                .where(servers.c.id == server_id)
                .values(models=_models_json(models), updated_at=utcnow())
            )
            detail = {
                "server": server_id,
                "from": _models_json(before.models),
                "to": _models_json(models),
            }
            append_entry(conn, actor, "server.models", detail=detail)

        write(self.engine, work)

    def update_routing(
        self,
        server_id: int,
        routing: Routing,
        actor: str,
        *,
        by: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Record a router's applied weight change (``by``: who asked it, as it said)."""

        def work(conn: sa.Connection) -> None:
            before = self._require(conn, server_id)
            if before.role != "router":
                raise NotFound(f"server {server_id} is not a router")
            conn.execute(
                servers.update()
                .where(servers.c.id == server_id)
                .values(routing=routing.as_json(), updated_at=utcnow())
            )
            detail = {
                "server": server_id,
                "model": routing.model,
                "generation": routing.generation,
                "from": before.routing.weights() if before.routing else None,
                "to": routing.weights(),
                "upstreams": {v.variant: v.url for v in routing.variants},
                "by": by,
                "reason": reason,
            }
            append_entry(conn, actor, "router.weights", detail=detail)

        write(self.engine, work)

    def get(self, server_id: int) -> ServerRecord:
        with read(self.engine) as conn:
            return self._require(conn, server_id)

    def live(self, role: Role | None = "server") -> list[ServerRecord]:
        """Servers not marked stopped, oldest first (``role`` None: routers too)."""
        query = sa.select(servers).where(servers.c.stopped_at.is_(None))
        return self._query(query if role is None else query.where(servers.c.role == role))

    def all(
        self, since: datetime | None = None, role: Role | None = "server"
    ) -> list[ServerRecord]:
        """Every server, or those running at some time since ``since``, oldest first
        (``role`` None: routers too)."""
        query = sa.select(servers)
        if role is not None:
            query = query.where(servers.c.role == role)
        if since is not None:
            query = query.where(
                sa.or_(servers.c.stopped_at.is_(None), servers.c.stopped_at >= since)
            )
        return self._query(query)

    def _query(self, query: sa.Select[Any]) -> list[ServerRecord]:
        with read(self.engine) as conn:
            return [_record(r) for r in conn.execute(query.order_by(servers.c.id))]

    @staticmethod
    def _require(conn: sa.Connection, server_id: int) -> ServerRecord:
        row = conn.execute(sa.select(servers).where(servers.c.id == server_id)).first()
        if row is None:
            raise NotFound(f"no server {server_id} is recorded in this store")
        return _record(row)
