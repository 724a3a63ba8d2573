"""Servers: every ``baton serve`` records itself (address, models, CPU and memory given).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("workers", sa.Integer, nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("cpu_affinity", sa.JSON, nullable=False),
        sa.Column("cpu_limit", sa.Float),
        sa.Column("memory_limit_bytes", sa.BigInteger),
        sa.Column("memory_total_bytes", sa.BigInteger, nullable=False),
        sa.Column("gpus", sa.Integer, nullable=False, server_default="0"),
        sa.Column("gpu_model", sa.String(255)),
        sa.Column("started_at", NOW, nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
        sa.Column("stopped_at", NOW),
    )
    op.create_index("ix_servers_stopped_at", "servers", ["stopped_at"])


def downgrade() -> None:
    op.drop_table("servers")
