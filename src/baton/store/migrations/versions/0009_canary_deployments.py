"""Canary deployments: promotions applied through a canary, and local deployments.

``promotions.via`` says how an approved promotion is applied: NULL at its last approval
(as before), ``canary`` by a canary rollout (states ``approved`` then ``applying``).
``deployments`` records ``baton deploy up``: the router and the ``baton serve`` processes
of one model on one machine, with a unique ``slot`` while it is up (one per model).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NOW = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("promotions") as batch:
        batch.add_column(sa.Column("via", sa.String(16)))
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_id",
            sa.Integer,
            sa.ForeignKey("models.id", name="fk_deployments_model_id_models"),
            nullable=False,
        ),
        sa.Column("slot", sa.String(24), unique=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("router", sa.JSON, nullable=False),
        sa.Column("processes", sa.JSON, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("started_at", NOW, nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
        sa.Column("stopped_by", sa.String(128)),
        sa.Column("stopped_at", NOW),
    )
    op.create_index("ix_deployments_model_id", "deployments", ["model_id", "id"])


def downgrade() -> None:
    op.drop_table("deployments")
    with op.batch_alter_table("promotions") as batch:
        batch.drop_column("via")
