"""The ``audit_runs`` and ``audit_lines`` tables: every ``baton audit`` that was saved.

Defined on the shared ``metadata``; migration 0010 creates them. A run holds its totals
(so the dashboard's history and the API's list read one row per run) and each deployment
is one line with its verdict and savings as columns (so a page of a 1,000-deployment run,
filtered by verdict and sorted by savings, is one indexed query, not a JSON document read
and sorted in Python). The rest of a line (flags, reasons) is JSON: shown, never queried.
"""

from __future__ import annotations

import sqlalchemy as sa

from baton.store.tables import NOW, metadata

audit_runs = sa.Table(
    "audit_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", NOW, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("prometheus_url", sa.Text, nullable=False),
    sa.Column("window_start", NOW, nullable=False),
    sa.Column("window_end", NOW, nullable=False),
    sa.Column("currency", sa.String(16), nullable=False),
    sa.Column("example_prices", sa.Boolean, nullable=False),
    sa.Column("deployments", sa.Integer, nullable=False),
    sa.Column("at_risk", sa.Integer, nullable=False),
    sa.Column("cost_now", sa.Float, nullable=False),  # per month, the whole fleet
    sa.Column("cost_after", sa.Float, nullable=False),
    sa.Column("savings", sa.Float, nullable=False),
    sa.Column("by_verdict", sa.JSON, nullable=False),  # {verdict: deployments}
    sa.Column("notes", sa.JSON, nullable=False),  # [str]
)

audit_lines = sa.Table(
    "audit_lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "run_id",
        sa.Integer,
        sa.ForeignKey("audit_runs.id", name="fk_audit_lines_run_id_audit_runs", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("verdict", sa.String(32), nullable=False),
    sa.Column("owner", sa.Text),
    sa.Column("cost_now", sa.Float, nullable=False),
    sa.Column("cost_after", sa.Float, nullable=False),
    sa.Column("savings", sa.Float, nullable=False),
    sa.Column("replicas_now", sa.String(32), nullable=False),
    sa.Column("replicas_after", sa.String(32), nullable=False),
    sa.Column("shape_now", sa.Text, nullable=False),
    sa.Column("shape_after", sa.Text, nullable=False),
    sa.Column("hardware_now", sa.Text, nullable=False),
    sa.Column("hardware_after", sa.Text, nullable=False),
    sa.Column("batch_now", sa.Integer),
    sa.Column("batch_after", sa.Integer),
    sa.Column("flags", sa.JSON, nullable=False),  # [str]
    sa.Column("reasons", sa.JSON, nullable=False),  # [str]
    sa.Index("ix_audit_lines_run_savings", "run_id", "savings"),
    sa.Index("ix_audit_lines_run_verdict", "run_id", "verdict", "savings"),
)
