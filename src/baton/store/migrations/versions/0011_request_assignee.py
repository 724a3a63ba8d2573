"""Requests get an assignee: the person of the holding team who works on it.

``assignee`` is NULL until a member of the request's team assigns it; passing the request
to another team clears it (the new team picks its own person).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("assignee", sa.String(128)))


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("assignee")
