"""Audit runs: every saved ``baton audit``, its totals and one line per deployment.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_runs",
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
        sa.Column("cost_now", sa.Float, nullable=False),
        sa.Column("cost_after", sa.Float, nullable=False),
        sa.Column("savings", sa.Float, nullable=False),
        sa.Column("by_verdict", sa.JSON, nullable=False),
        sa.Column("notes", sa.JSON, nullable=False),
    )
    op.create_table(
        "audit_lines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "run_id",
            sa.Integer,
            sa.ForeignKey(
                "audit_runs.id", name="fk_audit_lines_run_id_audit_runs", ondelete="CASCADE"
            ),
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
        sa.Column("flags", sa.JSON, nullable=False),
        sa.Column("reasons", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_lines_run_savings", "audit_lines", ["run_id", "savings"])
    op.create_index("ix_audit_lines_run_verdict", "audit_lines", ["run_id", "verdict", "savings"])


def downgrade() -> None:
    op.drop_table("audit_lines")
    op.drop_table("audit_runs")
