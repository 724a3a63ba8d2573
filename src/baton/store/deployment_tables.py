"""The ``deployments`` table: what ``baton deploy up`` started for one model on one machine.

Defined on the shared ``metadata``; migration 0009 creates it. ``slot`` holds the model's
id while the deployment is up and NULL once it is down, under a unique constraint, so the
database refuses a second deployment of one model (as ``rollouts.slot`` does for
rollouts). ``router`` and ``processes`` are JSON documents (``core.deployment_records``);
``revision`` grows by one at each change, so two writers never both change one record
(compare and set).
"""

from __future__ import annotations

import sqlalchemy as sa

from baton.store.tables import NOW, metadata

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("slot", sa.String(24), unique=True),  # the model's id while up, else NULL
    sa.Column("hostname", sa.String(255), nullable=False),  # the machine it runs on
    sa.Column("router", sa.JSON, nullable=False),  # url, pid, token file, log
    sa.Column("processes", sa.JSON, nullable=False),  # [{variant, version, url, pid, log}]
    sa.Column("revision", sa.Integer, nullable=False),
    sa.Column("started_by", sa.String(128), nullable=False),
    sa.Column("started_at", NOW, nullable=False),
    sa.Column("updated_at", NOW, nullable=False),
    sa.Column("stopped_by", sa.String(128)),
    sa.Column("stopped_at", NOW),
    sa.Index("ix_deployments_model_id", "model_id", "id"),
)
