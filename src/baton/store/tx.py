"""Transactions shared by every store module: reads, retried writes, ids, audit-log entries.

Every change and its log entry are written in one transaction, so a failure leaves
neither behind. A unique-key clash with a concurrent writer (PostgreSQL) is retried; on
SQLite writers are serialised by ``BEGIN IMMEDIATE`` (see ``db.make_engine``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.chain import Content
from baton.errors import NotFound
from baton.store.db import unreachable
from baton.store.log_chain import append, plain_detail
from baton.store.tables import models, versions

T = TypeVar("T")
RETRIES = 30


def utcnow() -> datetime:
    return datetime.now(UTC)


def lost_a_race(exc: sa.exc.IntegrityError) -> bool:
    """A unique-key clash: a concurrent writer took the same number or name first."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "23505" or "UNIQUE constraint failed" in str(exc.orig)


def rolled_back(exc: sa.exc.OperationalError) -> bool:
    """PostgreSQL chose this transaction to break a deadlock (or a serialisation clash).

    Writers lock the audit log's head after locking the rows they change, so two of them can wait
    on each other; one is rolled back and simply runs again.
    """
    return getattr(exc.orig, "sqlstate", None) in {"40P01", "40001"}


@contextmanager
def read(engine: Engine) -> Iterator[sa.Connection]:
    """A connection for reading (no write lock on SQLite)."""
    try:
        with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
            yield conn
    except sa.exc.OperationalError as exc:
        raise unreachable(engine, exc) from None


def write(engine: Engine, work: Callable[[sa.Connection], T]) -> T:
    """Run ``work`` in one transaction, retrying when a concurrent writer won a race.

    ``work`` may run more than once: it must do nothing outside the database.
    """
    for attempt in range(RETRIES):
        try:
            with engine.begin() as conn:
                return work(conn)
        except sa.exc.IntegrityError as exc:
            if not lost_a_race(exc) or attempt == RETRIES - 1:
                raise
            time.sleep(random.uniform(0.005, 0.05) * (attempt + 1))
        except sa.exc.OperationalError as exc:
            if ("locked" in str(exc) or rolled_back(exc)) and attempt < RETRIES - 1:
                time.sleep(random.uniform(0.01, 0.1))
                continue
            raise unreachable(engine, exc) from None
    raise AssertionError("unreachable")


def insert_id(conn: sa.Connection, statement: sa.Insert) -> int:
    """Run an INSERT and return the new row's id."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


def append_entry(
    conn: sa.Connection,
    actor: str,
    action: str,
    model: str | None = None,
    version: int | None = None,
    reason: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> None:
    """Append one sealed audit-log entry, chained to the last, in the caller's transaction."""
    plain = plain_detail(detail or {})
    append(conn, lambda: Content(utcnow(), actor, action, model, version, reason, plain))


def find_version_id(
    conn: sa.Connection, model: str, number: int, *, model_id: int | None = None
) -> int:
    """The row id of ``model`` version ``number`` (by ``model_id`` when the caller has it)."""
    query = sa.select(versions.c.id).where(versions.c.number == number)
    if model_id is not None:
        query = query.where(versions.c.model_id == model_id)
    else:
        query = query.join(models, models.c.id == versions.c.model_id).where(models.c.name == model)
    found = conn.execute(query).scalar()
    if found is None:
        raise NotFound(f"{model} has no version {number}: `baton show {model}` lists its versions")
    return int(found)
