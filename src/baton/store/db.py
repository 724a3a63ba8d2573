"""Engine creation and schema migration for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from baton.errors import BadInput, Unavailable

_NOT_A_URL = (sa.exc.ArgumentError, ValueError)  # what make_url raises (ValueError: bad port)

MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 7_220_114  # pg advisory lock key: one migrator at a time


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except _NOT_A_URL:
        return "(unparseable URL)"


def make_engine(url: str) -> Engine:
    """An engine whose transactions serialise writers safely across processes.

    SQLite: WAL, foreign keys, a 30 s busy timeout, and ``BEGIN IMMEDIATE`` for writes so
    two processes never both read the same "next version number".
    """
    try:
        parsed = make_url(url)
    except _NOT_A_URL:
        raise BadInput(
            f"BATON_DB_URL {url!r} is not a database URL: use sqlite:///path/baton.db "
            "or postgresql+psycopg://user@host:5432/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        _sqlite_events(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        try:
            return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
        except ImportError:
            raise BadInput(
                "PostgreSQL needs the postgres extra: pip install 'modelbaton[postgres]'"
            ) from None
    raise BadInput(
        f"database {parsed.get_backend_name()!r} is not supported: use SQLite or PostgreSQL"
    )


def _sqlite_events(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def unreachable(engine: Engine, exc: Exception) -> Unavailable:
    reason = (
        str(getattr(exc, "orig", exc)).strip().splitlines()[0] if str(exc) else type(exc).__name__
    )
    return Unavailable(
        f"cannot reach the database at {engine.url.render_as_string(hide_password=True)}"
        f" ({reason}): check BATON_DB_URL and that the server is running"
    )


def _alembic_config(connection: sa.Connection | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


# The newest migration(s). Kept here so that opening an up-to-date store (every CLI
# command) needs one SELECT and no Alembic import; a test checks it against Alembic's view.
SCHEMA_HEADS = frozenset({"0011"})


def _stored_revisions(engine: Engine) -> frozenset[str] | None:
    """The revisions recorded in the database, or None when it has no schema yet."""
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        return frozenset(rows)


def schema_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(_alembic_config()).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def migrate(engine: Engine) -> bool:
    """Bring the schema to the newest revision; True if anything changed.

    Safe when several processes start at once: PostgreSQL takes an advisory lock and SQLite
    an immediate transaction, so the second waits and then finds nothing to do.
    """
    try:
        if _stored_revisions(engine) == SCHEMA_HEADS:
            return False
        from alembic import command

        if current_revisions(engine) == schema_heads():
            return False
        with engine.begin() as conn:
            if is_postgres(engine):
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            command.upgrade(_alembic_config(conn), "heads")
        return True
    except sa.exc.OperationalError as exc:
        raise unreachable(engine, exc) from None
