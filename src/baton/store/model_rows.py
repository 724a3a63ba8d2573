"""Rows that belong to one model (deployments, rollouts, requests): read with its name.

Their records name the model; the rows hold its id. A row read to be changed is locked
until the transaction ends, so a compare-and-set reads, checks and writes it without
another writer in between; a model's one active row holds its unique ``slot``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from baton.errors import NotFound
from baton.store.tables import models


def with_model_name(table: sa.Table) -> sa.Select[Any]:
    """``table``'s rows with their model's name as ``model_name``: rows hold the model's id,
    the records read from them name it."""
    return sa.select(table, models.c.name.label("model_name")).join(
        models, models.c.id == table.c.model_id
    )


def one_with_model_name(
    conn: sa.Connection, table: sa.Table, row_id: int, *, missing: str, lock: bool = False
) -> Any:
    """Row ``row_id`` of ``table`` with its model's name, locked until the transaction ends
    with ``lock`` (a compare-and-set reads, checks, then writes it); NotFound(``missing``)."""
    query = with_model_name(table).where(table.c.id == row_id)
    if lock:
        query = query.with_for_update(of=table)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(missing)
    return row


def in_slot(conn: sa.Connection, table: sa.Table, model_id: int) -> Any | None:
    """The row holding the model's one ``slot`` in ``table`` (its deployment that is up, its
    rollout in progress), with the model's name; None while the slot is free."""
    return conn.execute(with_model_name(table).where(table.c.slot == slot_of(model_id))).first()


def slot_of(model_id: int) -> str:
    """The ``slot`` value of a model's active row: unique, so a second one is refused."""
    return str(model_id)
