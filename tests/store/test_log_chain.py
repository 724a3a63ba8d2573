"""Tampering with the audit log as someone with write access to the database would, on each DB."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from baton.core.chain import Tamper
from baton.store.store import Store
from baton.store.tables import audit_head, audit_log
from tests.log_tamper import attacker, fill


def finding_of(store: Store) -> tuple[Tamper, int | None]:
    verdict = store.registry.verify_log()
    assert verdict.finding is not None, "tampering went unnoticed"
    return verdict.finding.kind, verdict.finding.entry


def test_an_untouched_log_verifies_and_its_head_is_the_newest_entry(store: Store) -> None:
    assert store.registry.verify_log().intact  # empty
    fill(store)
    verdict = store.registry.verify_log()
    assert verdict.intact and verdict.entries == 5
    assert store.registry.log_head() == verdict.head
    assert store.registry.verify_log(kept=verdict.head).intact


def test_a_rewritten_entry_is_named(store: Store) -> None:
    ids = fill(store)
    attacker(store, f"UPDATE audit_log SET reason = 'nothing to see' WHERE id = {ids[2]}")
    assert finding_of(store) == (Tamper.REWRITTEN, ids[2])


def test_replacing_entry_1_is_refused_and_caught_if_forced(store: Store) -> None:
    """SQLite's REPLACE deletes without firing DELETE triggers; PostgreSQL's upsert updates."""
    ids = fill(store, 3)
    columns = "id, at, actor, action, model, version, reason, detail, seq, prev_hash, hash"
    forged = columns.replace("actor", "'mallory'")
    if store.engine.dialect.name == "postgresql":
        statement = (
            f"INSERT INTO audit_log ({columns}) SELECT {forged} FROM audit_log WHERE id = {ids[0]} "
            "ON CONFLICT (id) DO UPDATE SET actor = EXCLUDED.actor"
        )
    else:
        statement = (
            f"REPLACE INTO audit_log ({columns}) SELECT {forged} FROM audit_log WHERE id = {ids[0]}"
        )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert store.registry.verify_log().intact
    assert store.registry.log_entries(limit=10)[-1].actor == "tester"
    attacker(store, statement)
    assert store.registry.log_entries(limit=10)[-1].actor == "mallory"
    assert finding_of(store) == (Tamper.REWRITTEN, ids[0])


def test_a_forged_backdated_insert_is_named(store: Store) -> None:
    """INSERT is allowed (the log is append-only), so no guard stops this: the seal does."""
    ids = fill(store, 3)
    head = store.registry.log_head()
    forged = {
        "at": datetime(2020, 1, 1, tzinfo=UTC),
        "actor": "root",
        "action": "alias.set",
        "model": "toy",
        "version": 1,
        "reason": "approved long ago",
        "detail": {"alias": "production"},
        "seq": head.seq + 1,
        "prev_hash": head.hash,
        "hash": "ab" * 32,
    }
    with store.engine.begin() as conn:
        conn.execute(audit_log.insert().values(**forged))
    forged_id = max(e.id for e in store.registry.log_entries(limit=10))
    assert forged_id not in ids
    assert finding_of(store) == (Tamper.INSERTED, forged_id)
    store.registry.append_entry("tester", "test.after")  # honest writers carry on
    assert finding_of(store) == (Tamper.INSERTED, forged_id)


def test_a_deleted_entry_is_named_by_the_one_after_it(store: Store) -> None:
    ids = fill(store)
    attacker(store, f"DELETE FROM audit_log WHERE id = {ids[1]}")
    assert finding_of(store) == (Tamper.DELETED, ids[2])


def test_reordered_entries_are_named(store: Store) -> None:
    ids = fill(store)
    a, b = ids[1], ids[2]
    attacker(
        store,
        f"UPDATE audit_log SET id = -1 WHERE id = {a}",
        f"UPDATE audit_log SET id = {a} WHERE id = {b}",
        f"UPDATE audit_log SET id = {b} WHERE id = -1",
    )
    assert finding_of(store) == (Tamper.REORDERED, a)


def test_truncation_shows_against_the_store_head_and_a_kept_head(store: Store) -> None:
    ids = fill(store)
    kept = store.registry.log_head()
    attacker(store, f"DELETE FROM audit_log WHERE id IN ({ids[3]}, {ids[4]})")
    assert finding_of(store) == (Tamper.TRUNCATED, None)
    # a careful intruder sets the store's head back too: only the kept head tells
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(audit_log).where(audit_log.c.id == ids[2])).one()
    attacker(store, f"UPDATE audit_head SET seq = {row.seq}, hash = '{row.hash}'")
    assert store.registry.verify_log().intact
    verdict = store.registry.verify_log(kept=kept)
    assert verdict.finding is not None and verdict.finding.kind == Tamper.TRUNCATED
    assert "2 entries deleted from the end" in verdict.finding.message


def test_entries_deleted_from_the_end_leave_a_gap_once_writing_resumes(store: Store) -> None:
    ids = fill(store, 4)
    attacker(store, f"DELETE FROM audit_log WHERE id = {ids[3]}")
    store.registry.append_entry("tester", "test.after")
    assert finding_of(store)[0] == Tamper.DELETED


def test_the_head_row_cannot_be_deleted(store: Store) -> None:
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(audit_head.delete())


def test_concurrent_writers_keep_one_linear_chain(store: Store) -> None:
    threads, each = 6, 8
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(each):
                store.registry.append_entry(f"t{n}", "test.entry", detail={"i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    checks = 0
    while any(w.is_alive() for w in workers) or checks == 0:  # checking while they write
        assert store.registry.verify_log().intact
        checks += 1
    for w in workers:
        w.join(120)
    assert errors == []
    verdict = store.registry.verify_log()
    assert verdict.intact and verdict.entries == threads * each
    assert verdict.head.seq == threads * each


def test_entries_from_before_the_chain_are_sealed_when_migrating(store: Store) -> None:
    from alembic import command

    from baton.store.db import _alembic_config, migrate

    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0004")
        for i in range(3):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_log (at, actor, action, reason, detail) "
                    "VALUES (:at, 'old', 'test.old', :why, :detail)"
                ),
                {"at": datetime(2026, 1, 1 + i, tzinfo=UTC), "why": f"old {i}", "detail": "{}"},
            )
    assert migrate(store.engine) is True
    verdict = store.registry.verify_log()
    assert verdict.intact and verdict.entries == 3
    store.registry.append_entry("tester", "test.new")
    assert store.registry.verify_log().entries == 4
    assert [e.action for e in store.registry.log_entries()] == ["test.new", *["test.old"] * 3]


def test_old_entries_and_no_key_refuse_to_migrate(store: Store) -> None:
    from alembic import command

    from baton.errors import BadInput
    from baton.store.db import _alembic_config, current_revisions, make_engine, migrate

    store.registry.append_entry("tester", "test.entry")
    with store.engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0004")
    bare = make_engine(str(store.engine.url.render_as_string(hide_password=False)))
    with pytest.raises(BadInput, match="without an audit key"):
        migrate(bare)
    assert current_revisions(bare) == {"0004"}  # nothing half done
    bare.dispose()
