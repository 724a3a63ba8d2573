from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from baton.errors import BadInput, Unavailable
from baton.store.db import current_revisions, make_engine, migrate, safe_url, schema_heads
from baton.store.store import Store


def test_migration_reaches_head_and_is_idempotent(store: Store) -> None:
    assert current_revisions(store.engine) == schema_heads()
    assert migrate(store.engine) is False


@pytest.mark.parametrize(
    "statement", ["UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"]
)
def test_audit_log_is_append_only_in_the_database(store: Store, statement: str) -> None:
    store.registry.append_entry("tester", "test.entry", reason="kept forever")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert [e.action for e in store.registry.log_entries()] == ["test.entry"]


def test_unreachable_postgres_is_one_clear_line() -> None:
    engine = make_engine("postgresql+psycopg://baton:secret@127.0.0.1:1/nowhere")
    with pytest.raises(Unavailable) as info:
        migrate(engine)
    message = info.value.message
    assert (
        "cannot reach the database at postgresql+psycopg://baton:***@127.0.0.1:1/nowhere" in message
    )
    assert "secret" not in message
    assert "check BATON_DB_URL" in message
    assert "\n" not in message


def test_unsupported_or_malformed_urls() -> None:
    with pytest.raises(BadInput, match="not a database URL"):
        make_engine("not a url")
    with pytest.raises(BadInput, match="not a database URL"):
        make_engine("postgresql+psycopg://u@h:port/db")  # make_url raises ValueError here
    with pytest.raises(BadInput, match="'mysql' is not supported"):
        make_engine("mysql://root@127.0.0.1/test")


def test_safe_url_hides_passwords() -> None:
    assert safe_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert safe_url("not a url") == "(unparseable URL)"
    assert safe_url("postgresql://u:pw@h:port/db") == "(unparseable URL)"


def test_sqlite_parent_folder_is_created(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'deep' / 'er' / 'baton.db'}")
    migrate(engine)
    assert (tmp_path / "deep" / "er" / "baton.db").exists()


def test_timestamps_read_back_timezone_aware(store: Store) -> None:
    """SQLite drops the UTC offset; the column type puts it back, so the API's dates are valid."""
    store.registry.append_entry("tester", "test.entry")
    (entry,) = store.registry.log_entries()
    assert entry.at.tzinfo is not None
    assert entry.at.utcoffset() is not None and entry.at.utcoffset().total_seconds() == 0


def test_naive_timestamps_are_refused_on_write(store: Store) -> None:
    from datetime import datetime

    from baton.store.tables import audit_log

    with pytest.raises(sa.exc.StatementError, match="timezone-aware"), store.engine.begin() as conn:
        conn.execute(audit_log.insert().values(
            at=datetime(2026, 1, 1), actor="x", action="y", detail={},
        ))  # fmt: skip


def test_the_recorded_heads_are_alembics_heads() -> None:
    """The fast up-to-date check compares with SCHEMA_HEADS: a new migration must update it."""
    from baton.store.db import SCHEMA_HEADS

    assert set(SCHEMA_HEADS) == schema_heads()
