"""Which R&R matrix applies to a model: its own roles.yaml, the site's, or the built-in one.

Matrices are kept as a history (the newest row wins), so who-was-accountable-when stays on
record. Setting one is logged with the old and new documents.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.roles import (
    OWNER,
    Action,
    Matrix,
    MatrixJSON,
    check_matrix,
    default_matrix,
    may_act,
    parse_matrix,
)
from baton.errors import BatonError, Forbidden, NotFound
from baton.store.ownership_tables import role_matrices
from baton.store.people import Person
from baton.store.tables import models, teams
from baton.store.tx import append_entry, read, utcnow, write

Source = Literal["built-in", "site", "model"]
T = TypeVar("T")


def attempt(
    engine: Engine,
    work: Callable[[sa.Connection], T],
    *,
    actor: str,
    action: str,
    model: str | None = None,
    version: int | None = None,
    reason: str | None = None,
    detail: Mapping[str, object] | None = None,
) -> T:
    """Run a governed change; if baton refuses it, record the refusal and re-raise.

    The change and its log entry commit together; a refusal rolls the change back, so
    its entry (``<action>.refused``, with the message) is written in a transaction of its own.
    """
    try:
        return write(engine, work)
    except BatonError as exc:
        refused = {**(detail or {}), "refused": exc.message}
        with suppress(BatonError):  # the database is gone: the original error says so
            write(
                engine,
                lambda conn: append_entry(
                    conn, actor, f"{action}.refused", model, version, reason, refused
                ),
            )
        raise


class OwnersJSON(MatrixJSON):
    """``Owners`` as the API sends it and the remote client reads it back."""

    model: str
    owner: str
    source: Source
    missing_teams: list[str]


@dataclass(frozen=True)
class Owners:
    """The matrix in force for a model (``{owner}`` already replaced), and where it came from."""

    model: str
    owner: str
    source: Source
    matrix: Matrix
    missing_teams: tuple[str, ...]  # named in the matrix but not created yet

    def document(self) -> OwnersJSON:
        return {
            "model": self.model,
            "owner": self.owner,
            "source": self.source,
            "missing_teams": list(self.missing_teams),
            **self.matrix.to_document(),
        }


def model_row(conn: sa.Connection, name: str, *, lock: bool = False) -> Any:
    """The model's id and owner team; ``lock`` serialises transitions of one model (PG)."""
    query = (
        sa.select(models.c.id, teams.c.name.label("owner"))
        .join(teams, teams.c.id == models.c.owner_team_id)
        .where(models.c.name == name)
    )
    if lock:
        query = query.with_for_update(of=models)
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"unknown model {name!r}: `baton models` lists them")
    return row


def owners_in(conn: sa.Connection, name: str | None) -> Owners:
    """The matrix for ``name`` inside the caller's transaction (None: the site default)."""
    row = model_row(conn, name) if name is not None else None
    own = _latest(conn, row.id) if row is not None else None
    known = set(conn.execute(sa.select(teams.c.name)).scalars())
    return _owners(name, row.owner if row is not None else None, _latest(conn, None), own, known)


def owners_of(conn: sa.Connection, names: Collection[str]) -> dict[str, Owners]:
    """``owners_in`` for several models in four queries, whatever their number (a page's)."""
    if not names:
        return {}
    found = conn.execute(
        sa.select(models.c.id, models.c.name, teams.c.name.label("owner"))
        .join(teams, teams.c.id == models.c.owner_team_id)
        .where(models.c.name.in_(list(names)))
    ).all()
    missing = set(names) - {r.name for r in found}
    if missing:
        raise NotFound(f"unknown model {sorted(missing)[0]!r}: `baton models` lists them")
    own: dict[int, Any] = {}
    for model_id, document in conn.execute(
        sa.select(role_matrices.c.model_id, role_matrices.c.document)
        .where(role_matrices.c.model_id.in_([r.id for r in found]))
        .order_by(role_matrices.c.id)
    ):
        own[model_id] = document  # the newest row wins
    site = _latest(conn, None)
    known = set(conn.execute(sa.select(teams.c.name)).scalars())
    return {r.name: _owners(r.name, r.owner, site, own.get(r.id), known) for r in found}


def _owners(name: str | None, owner: str | None, site: Any, own: Any, known: set[str]) -> Owners:
    """The matrix from the stored documents: built-in, then the site's, then the model's."""
    base = default_matrix()
    source: Source = "built-in"
    if site is not None:
        base, source = parse_matrix(site), "site"
    if own is not None:
        base, source = parse_matrix(own, base=base), "model"
    matrix = base.for_owner(owner) if owner is not None else base
    missing = tuple(sorted(matrix.teams() - known - {OWNER}))
    return Owners(name or "*", owner or OWNER, source, matrix, missing)


def _latest(conn: sa.Connection, model_id: int | None) -> Any:
    where = (
        role_matrices.c.model_id.is_(None)
        if model_id is None
        else role_matrices.c.model_id == model_id
    )
    return conn.execute(
        sa.select(role_matrices.c.document).where(where).order_by(role_matrices.c.id.desc())
    ).scalar()


class Roles:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def owners(self, name: str | None) -> Owners:
        with read(self.engine) as conn:
            return owners_in(conn, name)

    def owners_of(self, names: Collection[str]) -> dict[str, Owners]:
        """The matrix of each named model, read together (a page of requests needs many)."""
        with read(self.engine) as conn:
            return owners_of(conn, names)

    def set_roles(
        self, name: str | None, document: Any, actor: Person, reason: str | None = None
    ) -> Owners:
        """Replace a model's (or, with ``name=None``, the site's) matrix.

        A model's matrix may be changed by its hand-over R/A team (the owner by default)
        or an admin; the site default only by an admin. Unknown teams are refused.
        """

        def work(conn: sa.Connection) -> None:
            before = owners_in(conn, name)
            if name is None:
                if not actor.admin:
                    raise Forbidden("only an admin may set the site-wide roles")
            elif not actor.admin:
                may_act(before.matrix, Action.SET_ROLES, actor.teams)
            base = default_matrix()
            if name is not None:
                site = _latest(conn, None)
                base = parse_matrix(site) if site is not None else base
            parsed = parse_matrix(document, base=base)
            check_matrix(parsed, set(conn.execute(sa.select(teams.c.name)).scalars()))
            model_id = model_row(conn, name).id if name is not None else None
            stored = parsed.to_document()
            conn.execute(
                role_matrices.insert().values(
                    model_id=model_id,
                    document=stored,
                    set_at=utcnow(),
                    set_by=actor.name,
                    reason=reason,
                )
            )
            detail = {"before": before.matrix.to_document(), "after": stored}
            append_entry(conn, actor.name, "roles.set", name, None, reason, detail)

        attempt(self.engine, work, actor=actor.name, action="roles.set", model=name, reason=reason)
        return self.owners(name)


def known_team(conn: sa.Connection, name: str) -> bool:
    return conn.execute(sa.select(teams.c.id).where(teams.c.name == name)).first() is not None
