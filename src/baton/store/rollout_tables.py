"""The ``rollouts`` and ``rollout_decisions`` tables: canary rollouts and each judged interval.

Defined on the shared ``metadata``; migration 0007 creates them. ``slot`` holds the model's
id while a rollout is active and NULL once it finished, under a unique constraint: so the
database itself refuses a second active rollout of one model, on SQLite and PostgreSQL
alike (NULLs never clash), as ``promotions.slot`` does for pending promotions. The lease
columns say which controller process runs the rollout and until when, so a restarted
controller can take over an abandoned rollout and never two run one.
"""

from __future__ import annotations

import sqlalchemy as sa

from baton.store.tables import NOW, metadata

rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id"), nullable=False),
    sa.Column("from_version", sa.Integer, nullable=False),
    sa.Column("to_version", sa.Integer, nullable=False),
    sa.Column("baseline_version", sa.Integer),
    sa.Column("target", sa.String(16), nullable=False),  # local | kserve | compose
    sa.Column("phase", sa.String(16), nullable=False),  # core.rollout_records.Phase
    sa.Column("step", sa.Integer, nullable=False),  # index into spec.steps
    sa.Column("weights", sa.JSON, nullable=False),  # {stable, baseline, canary} in percent
    sa.Column("spec", sa.JSON, nullable=False),  # steps, interval, min requests, deadline, ...
    sa.Column("failed_checks", sa.Integer, nullable=False),
    sa.Column("promotion_id", sa.Integer, sa.ForeignKey("promotions.id")),
    sa.Column("slot", sa.String(24), unique=True),  # the model's id while active, else NULL
    sa.Column("started_by", sa.String(128), nullable=False),
    sa.Column("started_at", NOW, nullable=False),
    sa.Column("updated_at", NOW, nullable=False),
    sa.Column("finished_at", NOW),
    sa.Column("reason", sa.Text),
    sa.Column("lease_pid", sa.Integer),
    sa.Column("lease_host", sa.String(255)),
    sa.Column("lease_heartbeat_at", NOW),
    sa.Column("lease_expires_at", NOW),
    sa.Index("ix_rollouts_model_id", "model_id", "id"),
)

rollout_decisions = sa.Table(
    "rollout_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rollout_id", sa.Integer, sa.ForeignKey("rollouts.id"), nullable=False),
    sa.Column("at", NOW, nullable=False),
    sa.Column("step", sa.Integer, nullable=False),
    sa.Column("weights", sa.JSON, nullable=False),
    sa.Column("score", sa.Float),
    sa.Column("decision", sa.String(16), nullable=False),  # core.rollout_records.Decision
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),  # metric name -> MetricResult
    sa.Index("ix_rollout_decisions_rollout_id", "rollout_id", "id"),
)
