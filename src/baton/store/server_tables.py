"""The ``servers`` table: every ``baton serve`` that started, what it served and was given,
and every ``baton router`` (role ``router``) with the weights it applies.

Defined on the shared ``metadata``; migration 0004 creates it, 0007 adds ``role`` and
``routing``. The right-size audit reads the servers (role ``server``) as the inventory of
servers baton started itself (no manifest needed).
"""

from __future__ import annotations

import sqlalchemy as sa

from baton.store.tables import NOW, metadata

servers = sa.Table(
    "servers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),  # the address Prometheus scrapes
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("hostname", sa.String(255), nullable=False),  # the machine it runs on
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("workers", sa.Integer, nullable=False),
    # [{"model": ..., "version": 3, "alias": "production" | null}, ...]
    sa.Column("models", sa.JSON, nullable=False),
    sa.Column("cpu_affinity", sa.JSON, nullable=False),  # CPU ids it may run on
    sa.Column("cpu_limit", sa.Float),  # cores, from the cgroup's cpu.max; NULL: none
    sa.Column("memory_limit_bytes", sa.BigInteger),  # the cgroup's memory.max; NULL: none
    sa.Column("memory_total_bytes", sa.BigInteger, nullable=False),  # the machine's RAM
    sa.Column("gpus", sa.Integer, nullable=False, server_default="0"),  # GPUs it can see
    sa.Column("gpu_model", sa.String(255)),  # NVML's device name, e.g. "Tesla T4"
    sa.Column("started_at", NOW, nullable=False),
    sa.Column("started_by", sa.String(128), nullable=False),
    sa.Column("updated_at", NOW, nullable=False),  # last change of its models
    sa.Column("stopped_at", NOW),  # NULL: running, or killed without a word
    # server: a `baton serve`; router: a `baton router` in front of a model's versions
    sa.Column("role", sa.String(16), nullable=False, server_default="server"),
    # a router's model, variants' servers and weights (store/servers.py Routing); else NULL
    sa.Column("routing", sa.JSON),
    sa.Index("ix_servers_stopped_at", "stopped_at"),
)
