"""Deploy renders: every ``baton deploy render`` is recorded (who, what, where, digest).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy_renders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("targets", sa.JSON, nullable=False),
        sa.Column("out", sa.Text, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("options", sa.JSON, nullable=False),
    )
    op.create_index("ix_deploy_renders_model", "deploy_renders", ["model", "version"])


def downgrade() -> None:
    op.drop_table("deploy_renders")
