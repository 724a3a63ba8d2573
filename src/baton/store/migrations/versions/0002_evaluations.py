"""Evaluations: one finished gate run per row (passed, failed or error), never half-written.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "version_id",
            sa.Integer,
            sa.ForeignKey("versions.id", name="fk_evaluations_version_id_versions"),
            nullable=False,
        ),
        sa.Column(
            "against_version_id",
            sa.Integer,
            sa.ForeignKey("versions.id", name="fk_evaluations_against_version_id_versions"),
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", NOW, nullable=False),
        sa.Column("finished_at", NOW, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("recommended", sa.JSON),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_evaluations_version_id", "evaluations", ["version_id", "id"])


def downgrade() -> None:
    op.drop_table("evaluations")
