"""Stored right-size audits: ``baton audit`` saves each run; the dashboard, the API and
``baton audit show`` read them back.

A run and its lines are written with their audit-log entry (``audit.run``) in one
transaction: a failure leaves none of them. Lines come back most savings first (ties in
the report's verdict order, then by name), filtered by verdict and a page at a time in the
query itself, so a 1,000-deployment run costs the page it shows.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.audit_records import (
    VERDICTS,
    AuditedDeployment,
    AuditRun,
    NewAuditRun,
    StoredAudit,
    totals,
)
from baton.errors import BadInput, NotFound
from baton.store.audit_tables import audit_lines, audit_runs
from baton.store.tx import append_entry, insert_id, read, utcnow, write

_VERDICT_RANK = sa.case(
    {v: i for i, v in enumerate(VERDICTS)}, value=audit_lines.c.verdict, else_=9
)
_BY_SAVINGS = (audit_lines.c.savings.desc(), _VERDICT_RANK, audit_lines.c.name, audit_lines.c.id)


class Audits:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, run: NewAuditRun, actor: str) -> int:
        """Store the run, its lines and its log entry; the run's id back."""
        if run.window_end < run.window_start:
            raise BadInput("the audit's window ends before it starts: check --end and --window")
        sums = totals(run.deployments)
        lines = [_line_row(d) for d in run.deployments]

        def work(conn: sa.Connection) -> int:
            run_id = insert_id(
                conn,
                audit_runs.insert().values(
                    at=utcnow(), actor=actor, prometheus_url=run.prometheus_url,
                    window_start=run.window_start, window_end=run.window_end,
                    currency=run.currency, example_prices=run.example_prices,
                    deployments=sums.deployments, at_risk=sums.at_risk, cost_now=sums.cost_now,
                    cost_after=sums.cost_after, savings=sums.savings,
                    by_verdict=sums.by_verdict, notes=list(run.notes),
                ),
            )  # fmt: skip
            if lines:
                conn.execute(audit_lines.insert(), [{**row, "run_id": run_id} for row in lines])
            detail = {"audit": run_id, "deployments": sums.deployments,
                      "at_risk": sums.at_risk, "savings": round(sums.savings, 2),
                      "currency": run.currency, "prometheus": run.prometheus_url}  # fmt: skip
            append_entry(conn, actor, "audit.run", detail=detail)
            return run_id

        return write(self.engine, work)

    def get(self, run_id: int) -> AuditRun:
        with read(self.engine) as conn:
            row = conn.execute(sa.select(audit_runs).where(audit_runs.c.id == run_id)).mappings()
            found = row.first()
        if found is None:
            raise NotFound(
                f"no audit run {run_id}: `baton audit show --list` lists the stored ones"
            )
        return _run(found)

    def latest(self) -> AuditRun | None:
        query = sa.select(audit_runs).order_by(audit_runs.c.id.desc()).limit(1)
        with read(self.engine) as conn:
            found = conn.execute(query).mappings().first()
        return None if found is None else _run(found)

    def runs(self, limit: int = 100) -> list[AuditRun]:
        """The newest ``limit`` runs, newest first."""
        query = sa.select(audit_runs).order_by(audit_runs.c.id.desc()).limit(limit)
        with read(self.engine) as conn:
            return [_run(r) for r in conn.execute(query).mappings()]

    def deployments(
        self,
        run_id: int,
        *,
        verdict: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[AuditedDeployment]:
        """A run's lines, most savings first; of one verdict when given."""
        query = sa.select(audit_lines).where(audit_lines.c.run_id == run_id)
        if verdict is not None:
            if verdict not in VERDICTS:
                raise BadInput(f"verdict {verdict!r}: choose one of {', '.join(VERDICTS)}")
            query = query.where(audit_lines.c.verdict == verdict)
        query = query.order_by(*_BY_SAVINGS).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with read(self.engine) as conn:
            return [_deployment(r) for r in conn.execute(query).mappings()]

    def stored(self, run_id: int | None = None, verdict: str | None = None) -> StoredAudit:
        """A run (the latest when no id) with all its lines, or those of one verdict."""
        run = self.get(run_id) if run_id is not None else self.latest()
        if run is None:
            raise NotFound("no audit is stored yet: run `baton audit` (without --no-save)")
        return StoredAudit(run, self.deployments(run.id, verdict=verdict))


def _line_row(d: AuditedDeployment) -> dict[str, object]:
    return {
        "name": d.name, "model": d.model, "version": d.version, "verdict": d.verdict,
        "owner": d.owner, "cost_now": d.cost_now, "cost_after": d.cost_after,
        "savings": d.savings, "replicas_now": d.replicas_now, "replicas_after": d.replicas_after,
        "shape_now": d.shape_now, "shape_after": d.shape_after, "hardware_now": d.hardware_now,
        "hardware_after": d.hardware_after, "batch_now": d.batch_now,
        "batch_after": d.batch_after, "flags": list(d.flags), "reasons": list(d.reasons),
    }  # fmt: skip


def _run(r: sa.RowMapping) -> AuditRun:
    return AuditRun(
        id=r["id"],
        at=r["at"],
        actor=r["actor"],
        prometheus_url=r["prometheus_url"],
        window_start=r["window_start"],
        window_end=r["window_end"],
        currency=r["currency"],
        example_prices=bool(r["example_prices"]),
        deployments=r["deployments"],
        at_risk=r["at_risk"],
        cost_now=r["cost_now"],
        cost_after=r["cost_after"],
        savings=r["savings"],
        by_verdict={v: r["by_verdict"][v] for v in VERDICTS if v in r["by_verdict"]},
        notes=tuple(r["notes"]),
    )


def _deployment(r: sa.RowMapping) -> AuditedDeployment:
    return AuditedDeployment(
        name=r["name"],
        model=r["model"],
        version=r["version"],
        verdict=r["verdict"],
        owner=r["owner"],
        cost_now=r["cost_now"],
        cost_after=r["cost_after"],
        savings=r["savings"],
        replicas_now=r["replicas_now"],
        replicas_after=r["replicas_after"],
        shape_now=r["shape_now"],
        shape_after=r["shape_after"],
        hardware_now=r["hardware_now"],
        hardware_after=r["hardware_after"],
        batch_now=r["batch_now"],
        batch_after=r["batch_after"],
        flags=tuple(r["flags"]),
        reasons=tuple(r["reasons"]),
    )
