"""Audit chain: every audit entry sealed with HMAC-SHA256 and chained to the one before.

Entries written before this migration are chained here, in id order, with the key of
whoever migrates (``open_store`` passes it), so the whole log is checked alike: there is no
unsealed prefix to trust. A store with old entries and no key refuses to migrate. SQLite
also gets a trigger refusing an INSERT onto an existing id: ``REPLACE INTO``
deletes the old row without firing DELETE triggers, so append-only needed it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from baton.core.chain import GENESIS, Content, seal
from baton.store.log_chain import key_of, plain_detail
from baton.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_LOG = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("at", UTCDateTime()),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("model", sa.String),
    sa.column("version", sa.Integer),
    sa.column("reason", sa.Text),
    sa.column("detail", sa.JSON),
    sa.column("seq", sa.Integer),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


_CHAIN = (("seq", sa.Integer()), ("prev_hash", sa.String(64)), ("hash", sa.String(64)))


def upgrade() -> None:
    _drop_guards()
    with op.batch_alter_table("audit_log") as batch:
        for name, kind in _CHAIN:
            batch.add_column(sa.Column(name, kind))
    head = _chain_existing()
    with op.batch_alter_table("audit_log") as batch:
        for name, kind in _CHAIN:
            batch.alter_column(name, existing_type=kind, nullable=False)
    op.create_index("ix_audit_log_seq", "audit_log", ["seq", "id"])
    table = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(16)),
        sa.CheckConstraint("id = 1", name="ck_audit_head_one_row"),
    )
    op.bulk_insert(table, [{"id": 1, **head}])
    _add_guards()


def _chain_existing() -> dict[str, object]:
    """Seal the entries already there, in id order; the head row the chain continues from."""
    conn = op.get_bind()
    rows = conn.execute(sa.select(_LOG).order_by(_LOG.c.id)).all()
    if not rows:
        return {"seq": 0, "hash": GENESIS, "key_id": None}
    key = key_of(conn)
    prev = GENESIS
    for seq, r in enumerate(rows, start=1):
        detail = plain_detail(r.detail)
        content = Content(r.at, r.actor, r.action, r.model, r.version, r.reason, detail)
        sealed = seal(key.secret, seq, prev, content)
        conn.execute(
            _LOG.update().where(_LOG.c.id == r.id).values(seq=seq, prev_hash=prev, hash=sealed)
        )
        prev = sealed
    return {"seq": len(rows), "hash": prev, "key_id": key.id}


def _drop_guards() -> None:
    if _postgres():
        op.execute("DROP TRIGGER audit_log_no_change ON audit_log")
    else:
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS audit_log_no_{event}")


def _append_only() -> None:
    """The UPDATE and DELETE guards of 0001, put back after the table changed."""
    if _postgres():
        op.execute(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )


def _add_guards() -> None:
    """Append-only again, now also against SQLite's REPLACE; the head row cannot be deleted."""
    _append_only()
    if _postgres():
        op.execute(
            "CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )
        return
    op.execute(
        "CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log "
        "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: that entry exists'); END"
    )
    op.execute(
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
    )


def downgrade() -> None:
    op.drop_table("audit_head")  # its trigger goes with it
    _drop_guards()
    op.drop_index("ix_audit_log_seq", "audit_log")
    if not _postgres():
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
    with op.batch_alter_table("audit_log") as batch:
        for name, _ in _CHAIN:
            batch.drop_column(name)
    _append_only()
