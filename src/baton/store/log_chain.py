"""The audit log's chain in the database: append under a lock on the head, read it back, check it.

Appending locks the one ``audit_head`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
writers are already serialised by ``BEGIN IMMEDIATE``), so concurrent writers extend one
linear chain, each inside its caller's transaction. The key travels with the engine (an
execution option set by ``open_store``), so ``append_entry(conn, ...)`` needs nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.chain import EMPTY, Content, Entry, Finding, Head, Tamper, Verdict, seal, verify
from baton.errors import BadInput, Corrupt
from baton.store.log_key import LogKey
from baton.store.tables import audit_head, audit_log

KEY_OPTION = "baton_log_key"
_BATCH = 1000


def with_key(engine: Engine, key: LogKey) -> Engine:
    """The same engine (pool, events), whose connections carry the audit log's key."""
    return engine.execution_options(**{KEY_OPTION: key})


def key_of(conn: sa.Connection) -> LogKey:
    key = conn.get_execution_options().get(KEY_OPTION)
    if not isinstance(key, LogKey):
        raise BadInput(
            "this store was opened without an audit key, so it cannot seal audit-log entries: "
            "open it with baton.store.store.open_store"
        )
    return key


def plain_detail(detail: Mapping[str, object]) -> dict[str, object]:
    """The detail as the database gives it back (JSON round trip), so seals match on reading."""
    value = json.loads(json.dumps(detail))
    assert isinstance(value, dict)
    return value


def append(conn: sa.Connection, build: Callable[[], Content]) -> None:
    """Seal the next entry and move the head, inside the caller's transaction.

    ``build`` runs once the head is locked, so timestamps rise with positions.
    """
    key = key_of(conn)
    head = _lock_head(conn)
    if head.key_id is not None and head.key_id != key.id:
        raise BadInput(_wrong_key(head.key_id, key))
    content = build()
    seq = head.seq + 1
    sealed = seal(key.secret, seq, head.hash, content)
    conn.execute(
        audit_log.insert().values(
            at=content.at,
            actor=content.actor,
            action=content.action,
            model=content.model,
            version=content.version,
            reason=content.reason,
            detail=content.detail,
            seq=seq,
            prev_hash=head.hash,
            hash=sealed,
        )
    )
    conn.execute(
        audit_head.update().where(audit_head.c.id == 1).values(seq=seq, hash=sealed, key_id=key.id)
    )


def append_many(conn: sa.Connection, build: Callable[[], list[Content]]) -> None:
    """Seal several entries in order and move the head once, inside the caller's transaction.

    The same entries ``append`` would write one by one, in one INSERT: for bulk loads
    (a benchmark's seeding) where one lock and one statement per entry is the cost.
    """
    key = key_of(conn)
    head = _lock_head(conn)
    if head.key_id is not None and head.key_id != key.id:
        raise BadInput(_wrong_key(head.key_id, key))
    seq, prev, rows = head.seq, head.hash, []
    for content in build():
        seq += 1
        sealed = seal(key.secret, seq, prev, content)
        rows.append(
            {
                "at": content.at,
                "actor": content.actor,
                "action": content.action,
                "model": content.model,
                "version": content.version,
                "reason": content.reason,
                "detail": content.detail,
                "seq": seq,
                "prev_hash": prev,
                "hash": sealed,
            }
        )
        prev = sealed
    if not rows:
        return
    conn.execute(audit_log.insert(), rows)
    conn.execute(
        audit_head.update().where(audit_head.c.id == 1).values(seq=seq, hash=prev, key_id=key.id)
    )


@dataclass(frozen=True)
class StoredHead:
    seq: int
    hash: str
    key_id: str | None


def _lock_head(conn: sa.Connection) -> StoredHead:
    row = conn.execute(
        sa.select(audit_head.c.seq, audit_head.c.hash, audit_head.c.key_id)
        .where(audit_head.c.id == 1)
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise Corrupt("the audit log's head row is missing: run `baton log --verify`")
    return StoredHead(row.seq, row.hash, row.key_id)


def _wrong_key(sealed_with: str, key: LogKey) -> str:
    return (
        f"the audit log is sealed with key {sealed_with}, but {key.origin} holds key {key.id}: "
        "every writer and checker of one database needs the same key "
        "(set BATON_AUDIT_KEY or BATON_AUDIT_KEY_FILE)"
    )


def recorded_head(conn: sa.Connection) -> StoredHead | None:
    row = conn.execute(
        sa.select(audit_head.c.seq, audit_head.c.hash, audit_head.c.key_id).where(
            audit_head.c.id == 1
        )
    ).one_or_none()
    return None if row is None else StoredHead(row.seq, row.hash, row.key_id)


def last_head(conn: sa.Connection) -> Head:
    """The newest entry's position and seal, as stored (``--verify`` says if it is genuine)."""
    row = conn.execute(
        sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).one_or_none()
    return EMPTY if row is None else Head(row.seq, row.hash)


def entries(conn: sa.Connection) -> Iterator[Entry]:
    """Every entry in chain order (position, then id), streamed in batches."""
    query = sa.select(audit_log).order_by(audit_log.c.seq, audit_log.c.id)
    for r in conn.execution_options(yield_per=_BATCH).execute(query):
        content = Content(r.at, r.actor, r.action, r.model, r.version, r.reason, r.detail)
        yield Entry(r.id, r.seq, r.prev_hash, r.hash, content)


def check(conn: sa.Connection, key: LogKey, kept: Head | None = None) -> Verdict:
    """Walk the whole chain with the key; refuse a key other than the one that sealed it.

    ``conn`` must not have begun: the head and the entries are read from one snapshot
    (SQLite's read transaction has one; PostgreSQL needs REPEATABLE READ), so writers
    appending meanwhile never look like tampering.
    """
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="REPEATABLE READ")
    stored = recorded_head(conn)
    if stored is not None and stored.key_id is not None and stored.key_id != key.id:
        raise BadInput(_wrong_key(stored.key_id, key))
    recorded = None if stored is None else Head(stored.seq, stored.hash)
    verdict = verify(entries(conn), key.secret, recorded=recorded, kept=kept)
    if verdict.intact and stored is None:
        missing = Finding(Tamper.TRUNCATED, None, "the audit log's head row was deleted")
        return Verdict(verdict.entries, verdict.head, missing)
    return verdict
