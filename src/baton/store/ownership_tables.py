"""Tables for people, tokens, role matrices, promotions, approvals and requests.

Defined on the shared ``metadata``; migration 0003 creates them. Team and person names are
kept as text in the history tables (approvals, requests) so the record reads the same even
after a team is renamed or a person leaves.
"""

from __future__ import annotations

import sqlalchemy as sa

from baton.store.tables import NOW, metadata

people = sa.Table(
    "people",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("admin", sa.Boolean, nullable=False),
    sa.Column("created_at", NOW, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("person_id", sa.ForeignKey("people.id"), primary_key=True),
    sa.Column("team_id", sa.ForeignKey("teams.id"), primary_key=True),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("person_id", sa.ForeignKey("people.id"), nullable=False),
    sa.Column("public_id", sa.String(16), nullable=False, unique=True),
    sa.Column("digest", sa.String(64), nullable=False),  # sha256 of the whole token
    sa.Column("created_at", NOW, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("revoked_at", NOW),
    sa.Column("revoked_by", sa.String(128)),
)

role_matrices = sa.Table(
    "role_matrices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.ForeignKey("models.id")),  # NULL: the site-wide default
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("set_at", NOW, nullable=False),
    sa.Column("set_by", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text),
    sa.Index("ix_role_matrices_model_id", "model_id", "id"),
)

promotions = sa.Table(
    "promotions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.ForeignKey("models.id"), nullable=False),
    sa.Column("version_id", sa.ForeignKey("versions.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # promote | rollback
    sa.Column("target", sa.String(16), nullable=False),  # staging | production | archived
    # pending | applied | cancelled; through a canary: pending | approved | applying | ...
    sa.Column("state", sa.String(16), nullable=False),
    # "<model id>/<target>" while pending, NULL after: one pending step per model and target,
    # enforced by the database so concurrent requests cannot both get in.
    sa.Column("slot", sa.String(48), unique=True),
    sa.Column("from_version", sa.Integer),  # what the alias held when asked: compare-and-set
    sa.Column("requested_by", sa.String(128), nullable=False),
    sa.Column("requested_at", NOW, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(128)),
    sa.Column("decided_at", NOW),
    sa.Column("via", sa.String(16)),  # NULL: applied at the last approval; canary: by a rollout
    sa.Index("ix_promotions_model_id", "model_id", "id"),
)

approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("promotion_id", sa.ForeignKey("promotions.id"), nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("team", sa.String(63), nullable=False),
    sa.Column("person", sa.String(128), nullable=False),
    sa.Column("at", NOW, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.UniqueConstraint("promotion_id", "stage"),
)

requests = sa.Table(
    "requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.ForeignKey("models.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("stage", sa.String(16), nullable=False),
    sa.Column("team", sa.String(63), nullable=False),  # assigned: responsible per the matrix
    sa.Column("raised_with", sa.String(63)),
    sa.Column("delegated", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # open | closed
    sa.Column("raised_by", sa.String(128), nullable=False),
    sa.Column("raised_at", NOW, nullable=False),
    sa.Column("closed_by", sa.String(128)),
    sa.Column("closed_at", NOW),
    sa.Column("resolution", sa.Text),
    sa.Column("assignee", sa.String(128)),  # the team member working on it (0010)
    sa.Index("ix_requests_team_state", "team", "state"),
)
