"""Ownership: people, tokens, role matrices, promotions, approvals and requests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NOW = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{target}.id", name=f"fk_{table}_{column}_{target}")


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("created_at", NOW, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("name", name="uq_people_name"),
    )
    op.create_table(
        "memberships",
        sa.Column(
            "person_id", sa.Integer, _fk("memberships", "person_id", "people"), primary_key=True
        ),
        sa.Column("team_id", sa.Integer, _fk("memberships", "team_id", "teams"), primary_key=True),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("person_id", sa.Integer, _fk("tokens", "person_id", "people"), nullable=False),
        sa.Column("public_id", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("revoked_at", NOW),
        sa.Column("revoked_by", sa.String(128)),
        sa.UniqueConstraint("public_id", name="uq_tokens_public_id"),
    )
    op.create_table(
        "role_matrices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, _fk("role_matrices", "model_id", "models")),
        sa.Column("document", sa.JSON, nullable=False),
        sa.Column("set_at", NOW, nullable=False),
        sa.Column("set_by", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_role_matrices_model_id", "role_matrices", ["model_id", "id"])
    op.create_table(
        "promotions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, _fk("promotions", "model_id", "models"), nullable=False),
        sa.Column(
            "version_id", sa.Integer, _fk("promotions", "version_id", "versions"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("slot", sa.String(48)),
        sa.Column("from_version", sa.Integer),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", NOW, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("decided_by", sa.String(128)),
        sa.Column("decided_at", NOW),
        sa.UniqueConstraint("slot", name="uq_promotions_slot"),
    )
    op.create_index("ix_promotions_model_id", "promotions", ["model_id", "id"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "promotion_id",
            sa.Integer,
            _fk("approvals", "promotion_id", "promotions"),
            nullable=False,
        ),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("team", sa.String(63), nullable=False),
        sa.Column("person", sa.String(128), nullable=False),
        sa.Column("at", NOW, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.UniqueConstraint("promotion_id", "stage", name="uq_approvals_promotion_id_stage"),
    )
    op.create_table(
        "requests",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("model_id", sa.Integer, _fk("requests", "model_id", "models"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("team", sa.String(63), nullable=False),
        sa.Column("raised_with", sa.String(63)),
        sa.Column("delegated", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("raised_by", sa.String(128), nullable=False),
        sa.Column("raised_at", NOW, nullable=False),
        sa.Column("closed_by", sa.String(128)),
        sa.Column("closed_at", NOW),
        sa.Column("resolution", sa.Text),
    )
    op.create_index("ix_requests_team_state", "requests", ["team", "state"])


def downgrade() -> None:
    for table in (
        "requests",
        "approvals",
        "promotions",
        "role_matrices",
        "tokens",
        "memberships",
        "people",
    ):
        op.drop_table(table)
