"""Local deployments in the store: what ``baton deploy up`` started, changed and stopped.

One deployment per model while it is up (a unique ``slot``, as for rollouts). Changes are
compare-and-set on ``revision``: the canary controller adding its baseline and canary
servers and a person running ``baton deploy down`` never both win. Every change is in the
audit log with the processes before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.deployment_records import (
    DeploymentRecord,
    Processes,
    RouterProcess,
    parse_processes,
    parse_router,
)
from baton.errors import BatonError, Conflict, Corrupt
from baton.store.deployment_tables import deployments
from baton.store.model_rows import in_slot, one_with_model_name, slot_of, with_model_name
from baton.store.ownership import attempt, model_row
from baton.store.tx import append_entry, insert_id, read, utcnow, write


class DeploymentDown(Conflict):
    """The deployment was taken down: nothing of it is to change any more."""


class StaleRevision(Conflict):
    """The deployment changed since the caller read it: read it again, then decide."""


@dataclass(frozen=True)
class NewDeployment:
    model: str
    hostname: str
    router: RouterProcess
    processes: Processes


class Deployments:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def up(self, new: NewDeployment, actor: str, reason: str | None = None) -> DeploymentRecord:
        """Record a deployment that now runs; refused while the model has one up."""

        def work(conn: sa.Connection) -> int:
            row = model_row(conn, new.model, lock=True)
            running = in_slot(conn, deployments, row.id)
            if running is not None:
                raise Conflict(_already_up(deployment_record(running)))
            now = utcnow()
            new_id = insert_id(conn, deployments.insert().values(
                model_id=row.id, slot=slot_of(row.id), hostname=new.hostname,
                router=new.router.model_dump(mode="json"), processes=_servers(new.processes),
                revision=1, started_by=actor, started_at=now, updated_at=now,
            ))  # fmt: skip
            detail = {"deployment": new_id, "hostname": new.hostname,
                      "router": new.router.model_dump(mode="json"),
                      "processes": _servers(new.processes)}  # fmt: skip
            append_entry(conn, actor, "deploy.up", new.model, None, reason, detail)
            return new_id

        new_id = attempt(self.engine, work, actor=actor, action="deploy.up", model=new.model,
                         reason=reason, detail={"hostname": new.hostname})  # fmt: skip
        return self.get(new_id)

    def change(
        self,
        deployment_id: int,
        processes: Processes,
        *,
        revision: int,
        actor: str,
        reason: str | None = None,
    ) -> DeploymentRecord:
        """Record the servers that run now, if nothing changed since ``revision``."""

        def work(conn: sa.Connection) -> None:
            before = self._current(conn, deployment_id, revision)
            conn.execute(
                deployments.update()
                .where(deployments.c.id == deployment_id, deployments.c.revision == revision)
                .values(processes=_servers(processes), revision=revision + 1,
                        updated_at=utcnow())
            )  # fmt: skip
            detail = {"deployment": deployment_id, "from": _servers(before.processes),
                      "to": _servers(processes), "revision": revision + 1}  # fmt: skip
            append_entry(conn, actor, "deploy.change", before.model, None, reason, detail)

        write(self.engine, work)
        return self.get(deployment_id)

    def router_replaced(
        self,
        deployment_id: int,
        dead: RouterProcess,
        router: RouterProcess,
        *,
        actor: str,
        reason: str,
        weights: dict[str, float],
    ) -> DeploymentRecord:
        """Record the router started in place of ``dead`` (compare and set on the dead
        one's pid: the servers may change meanwhile, the router may not)."""

        def work(conn: sa.Connection) -> None:
            before = deployment_record(_one(conn, deployment_id, lock=True))
            if not before.up:
                raise Conflict(f"{before.summary()} is down: its router is not replaced")
            if (before.router.pid, before.router.started) != (dead.pid, dead.started):
                raise Conflict(
                    f"{before.summary()}'s router is pid {before.router.pid} now, not "
                    f"{dead.pid}: someone else replaced it"
                )
            conn.execute(
                deployments.update()
                .where(deployments.c.id == deployment_id)
                .values(router=router.model_dump(mode="json"), revision=before.revision + 1,
                        updated_at=utcnow())
            )  # fmt: skip
            detail = {"deployment": deployment_id, "from": dead.model_dump(mode="json"),
                      "to": router.model_dump(mode="json"), "weights": weights,
                      "revision": before.revision + 1}  # fmt: skip
            append_entry(conn, actor, "deploy.router.restart", before.model, None, reason, detail)

        write(self.engine, work)
        return self.get(deployment_id)

    def keeper_started(
        self, deployment_id: int, keeper_pid: int, *, actor: str, reason: str | None = None
    ) -> None:
        """Audit a keeper started again beside a deployment that ran without one: the record
        does not change (the keeper lives in a file beside it), the log says who did it."""

        def work(conn: sa.Connection) -> None:
            before = deployment_record(_one(conn, deployment_id))
            if not before.up:
                raise DeploymentDown(f"{before.summary()} is down: it has no keeper to start")
            detail = {"deployment": deployment_id, "keeper": keeper_pid}
            append_entry(conn, actor, "deploy.keeper.restart", before.model, None, reason, detail)

        write(self.engine, work)

    def down(
        self, deployment_id: int, *, revision: int, actor: str, reason: str | None = None
    ) -> DeploymentRecord:
        """Mark the deployment stopped (its processes are gone): the model's slot is free."""

        def work(conn: sa.Connection) -> None:
            before = self._current(conn, deployment_id, revision)
            now = utcnow()
            conn.execute(
                deployments.update()
                .where(deployments.c.id == deployment_id)
                .values(slot=None, stopped_by=actor, stopped_at=now, updated_at=now,
                        revision=revision + 1)
            )  # fmt: skip
            detail = {"deployment": deployment_id, "processes": _servers(before.processes)}
            append_entry(conn, actor, "deploy.down", before.model, None, reason, detail)

        write(self.engine, work)
        return self.get(deployment_id)

    def get(self, deployment_id: int) -> DeploymentRecord:
        with read(self.engine) as conn:
            return deployment_record(_one(conn, deployment_id))

    def active(self, model: str) -> DeploymentRecord | None:
        """The model's deployment that is up, or None."""
        with read(self.engine) as conn:
            found = in_slot(conn, deployments, model_row(conn, model).id)
            return None if found is None else deployment_record(found)

    def all(self, model: str | None = None, *, up_only: bool = True) -> list[DeploymentRecord]:
        """Deployments, oldest first (those up; with ``up_only=False`` stopped ones too)."""
        query = with_model_name(deployments).order_by(deployments.c.id)
        if up_only:
            query = query.where(deployments.c.slot.is_not(None))
        with read(self.engine) as conn:
            if model is not None:
                query = query.where(deployments.c.model_id == model_row(conn, model).id)
            return [deployment_record(r) for r in conn.execute(query)]

    @staticmethod
    def _current(conn: sa.Connection, deployment_id: int, revision: int) -> DeploymentRecord:
        current = deployment_record(_one(conn, deployment_id, lock=True))
        if not current.up:
            raise DeploymentDown(f"{current.summary()} is down: start it with `baton deploy up`")
        if current.revision != revision:
            raise StaleRevision(
                f"{current.summary()} changed meanwhile (revision {current.revision}, not "
                f"{revision}): read it again"
            )
        return current


def _servers(processes: Processes) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json") for p in processes.servers]


def _already_up(running: DeploymentRecord) -> str:
    return (
        f"{running.model} is already deployed ({running.summary()}, router at "
        f"{running.router.url}, started by {running.started_by}): `baton deploy status "
        f"{running.model}` shows it, `baton deploy down {running.model}` stops it"
    )


def _one(conn: sa.Connection, deployment_id: int, *, lock: bool = False) -> Any:
    missing = f"there is no deployment #{deployment_id}"
    return one_with_model_name(conn, deployments, deployment_id, missing=missing, lock=lock)


def deployment_record(row: Any) -> DeploymentRecord:
    what = f"deployment #{row.id}"
    try:
        router = parse_router(row.router, f"{what}'s router")
        processes = parse_processes(row.processes, f"{what}'s processes")
    except BatonError as exc:
        raise Corrupt(f"{what} has a stored record baton cannot read ({exc.message})") from None
    return DeploymentRecord(
        id=row.id,
        model=row.model_name,
        hostname=row.hostname,
        router=router,
        processes=processes,
        revision=row.revision,
        started_by=row.started_by,
        started_at=row.started_at,
        updated_at=row.updated_at,
        stopped_by=row.stopped_by,
        stopped_at=row.stopped_at,
    )
