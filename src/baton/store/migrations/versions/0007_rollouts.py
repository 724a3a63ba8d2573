"""Rollouts: canary rollouts (phase, step, weights, spec, lease) and each judged interval.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

NOW = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, _fk("rollouts", "model_id", "models"), nullable=False),
        sa.Column("from_version", sa.Integer, nullable=False),
        sa.Column("to_version", sa.Integer, nullable=False),
        sa.Column("baseline_version", sa.Integer),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("weights", sa.JSON, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.Column("failed_checks", sa.Integer, nullable=False),
        sa.Column("promotion_id", sa.Integer, _fk("rollouts", "promotion_id", "promotions")),
        # the model's id while the rollout is active: one active rollout per model
        sa.Column("slot", sa.String(24)),
        sa.Column("started_by", sa.String(128), nullable=False),
        sa.Column("started_at", NOW, nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
        sa.Column("finished_at", NOW),
        sa.Column("reason", sa.Text),
        sa.Column("lease_pid", sa.Integer),
        sa.Column("lease_host", sa.String(255)),
        sa.Column("lease_heartbeat_at", NOW),
        sa.Column("lease_expires_at", NOW),
        sa.UniqueConstraint("slot", name="uq_rollouts_slot"),
    )
    op.create_index("ix_rollouts_model_id", "rollouts", ["model_id", "id"])
    op.create_table(
        "rollout_decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "rollout_id",
            sa.Integer,
            _fk("rollout_decisions", "rollout_id", "rollouts"),
            nullable=False,
        ),
        sa.Column("at", NOW, nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("weights", sa.JSON, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
    )
    op.create_index("ix_rollout_decisions_rollout_id", "rollout_decisions", ["rollout_id", "id"])


def downgrade() -> None:
    op.drop_table("rollout_decisions")
    op.drop_table("rollouts")
