"""Tampering with a store's audit log the way someone with write access to its database would."""

from __future__ import annotations

import sqlalchemy as sa

from baton.store.store import Store
from baton.store.tables import audit_log


def fill(store: Store, n: int = 5) -> list[int]:
    """n entries; their ids in chain order."""
    for i in range(n):
        store.registry.append_entry("tester", "test.entry", reason=f"entry {i}", detail={"i": i})
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(audit_log.c.id).order_by(audit_log.c.seq)).scalars())


def attacker(store: Store, *statements: str) -> None:
    """Run SQL the way an intruder would: first switching the append-only guards off."""
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
            conn.exec_driver_sql("ALTER TABLE audit_head DISABLE TRIGGER USER")
        else:
            for name in ("no_update", "no_delete", "no_replace"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS audit_log_{name}")
        for statement in statements:
            conn.exec_driver_sql(statement)
