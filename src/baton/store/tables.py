"""The registry's tables (SQLAlchemy Core). Changes here need an Alembic migration."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC when read back.

    PostgreSQL keeps the offset; SQLite stores text and drops it, which would hand naive
    datetimes to the API (and break its date-time contract) on the embedded default.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware (use baton.store.tx.utcnow)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


NOW = UTCDateTime()

teams = sa.Table(
    "teams",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("created_at", NOW, nullable=False),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("owner_team_id", sa.ForeignKey("teams.id"), nullable=False),
    sa.Column("task", sa.String(32), nullable=False),
    sa.Column("created_at", NOW, nullable=False),
)

versions = sa.Table(
    "versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model_id", sa.ForeignKey("models.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("label", sa.String(64)),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("manifest", sa.JSON, nullable=False),
    sa.Column("created_at", NOW, nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.UniqueConstraint("model_id", "number"),
    sa.UniqueConstraint("model_id", "sha256"),
)

version_files = sa.Table(
    "version_files",
    metadata,
    sa.Column("version_id", sa.ForeignKey("versions.id"), primary_key=True),
    sa.Column("role", sa.String(32), primary_key=True),
    sa.Column("filename", sa.String(255), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
)

aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("model_id", sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("version_id", sa.ForeignKey("versions.id"), nullable=False),
    sa.Column("updated_at", NOW, nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", NOW, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("model", sa.String(63)),
    sa.Column("version", sa.Integer),
    sa.Column("reason", sa.Text),
    sa.Column("detail", sa.JSON, nullable=False),
    # the hash chain (core/chain.py): position, the previous entry's seal, this entry's seal
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_model_at", "model", "at"),
    # not unique: an entry forged at the next position must not block honest writers
    # (``baton log --verify`` reports it instead)
    sa.Index("ix_audit_log_seq", "seq", "id"),
)

# One row: the chain's newest position and seal, and which key seals it. Writers lock it
# (SELECT ... FOR UPDATE) so the chain stays linear; a later writer chains from it, so
# entries deleted from the end show up as a gap.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(16)),
    sa.CheckConstraint("id = 1", name="one_row"),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version_id", sa.ForeignKey("versions.id"), nullable=False),
    sa.Column("against_version_id", sa.ForeignKey("versions.id")),
    sa.Column("status", sa.String(16), nullable=False),  # passed | failed | error
    sa.Column("started_at", NOW, nullable=False),
    sa.Column("finished_at", NOW, nullable=False),
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
    sa.Column("recommended", sa.JSON),  # the serving configuration the profile picked
    sa.Column("error", sa.Text),
    sa.Index("ix_evaluations_version_id", "version_id", "id"),
)
