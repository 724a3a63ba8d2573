"""An audit's result as the store keeps it: one line per deployment, the run's facts.

``baton audit`` computes an ``AuditResult`` (rows with the observed usage, timelines and
the sizing); what is worth keeping and showing later is each deployment's verdict, what
it has, what it should have, its cost and why: ``core.audit_records``. The text of the
shapes is the terminal's and the HTML report's (``audit.table``), so all say the same.
"""

from __future__ import annotations

from datetime import UTC, datetime

from baton.audit.result import AuditResult, Row
from baton.audit.table import (
    currency,
    example_prices,
    replicas_after,
    replicas_now,
    shape_after,
    shape_now,
)
from baton.core.audit_records import AuditedDeployment, NewAuditRun


def to_new_run(result: AuditResult) -> NewAuditRun:
    return NewAuditRun(
        prometheus_url=result.prometheus_url,
        window_start=datetime.fromtimestamp(result.start, UTC),
        window_end=datetime.fromtimestamp(result.end, UTC),
        currency=currency(result),
        example_prices=example_prices(result),
        deployments=tuple(line(row) for row in result.sorted_rows()),
        notes=tuple(result.notes),
    )


def line(row: Row) -> AuditedDeployment:
    d, t = row.deployment, row.target
    return AuditedDeployment(
        name=d.name,
        model=d.model,
        version=d.version,
        verdict=row.verdict,
        owner=d.owner,
        cost_now=row.cost_now,
        cost_after=row.cost_after,
        savings=row.cost_now - row.cost_after,
        replicas_now=replicas_now(row),
        replicas_after=replicas_after(row),
        shape_now=shape_now(row),
        shape_after=shape_after(row),
        hardware_now=d.resources.hardware,
        hardware_after=t.hardware,
        batch_now=d.serving.max_batch_size,
        batch_after=t.max_batch_size,
        flags=tuple(row.flags),
        reasons=tuple(row.recommendation.reasons),
    )
