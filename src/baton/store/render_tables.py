"""The ``deploy_renders`` table: every ``baton deploy render`` that wrote files.

Defined on the shared ``metadata``; migration 0006 creates it. It answers
"which files were produced for version 3, and by whom": the targets, where they were
written, and the sha256 of the render's MANIFEST.json (which holds every file's digest).
"""

from __future__ import annotations

import sqlalchemy as sa

from baton.store.tables import NOW, metadata

deploy_renders = sa.Table(
    "deploy_renders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", NOW, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("model", sa.String(128), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("targets", sa.JSON, nullable=False),  # ["k8s", "kserve", ...]
    sa.Column("out", sa.Text, nullable=False),  # the folder written (absolute path)
    sa.Column("manifest_sha256", sa.String(64), nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("options", sa.JSON, nullable=False),  # what MANIFEST.json records as options
    sa.Index("ix_deploy_renders_model", "model", "version"),
)
