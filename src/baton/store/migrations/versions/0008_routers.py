"""Routers: a ``baton router`` is recorded beside the servers (role), with its weights.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.add_column(sa.Column("role", sa.String(16), nullable=False, server_default="server"))
        batch.add_column(sa.Column("routing", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("servers") as batch:
        batch.drop_column("routing")
        batch.drop_column("role")
