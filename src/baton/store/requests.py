"""Requests (retrain, feature, scale, incident), routed to the team responsible for them.

A request raised with a team that does not do that kind of work is passed to the one that
does, and marked delegated, so nothing is silently dropped on the wrong desk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.refs import check_name
from baton.core.roles import (
    NotPermitted,
    RequestKind,
    Routed,
    Stage,
    may_delegate,
    route_request,
)
from baton.errors import BadInput, Conflict, NotFound
from baton.store.model_rows import one_with_model_name, with_model_name
from baton.store.ownership import attempt, known_team, model_row, owners_in
from baton.store.ownership_tables import requests
from baton.store.people import Person, person_in
from baton.store.tables import models
from baton.store.tx import append_entry, insert_id, read, utcnow

STATES = ("open", "closed")


@dataclass(frozen=True)
class RequestInfo:
    id: int
    model: str
    kind: str
    text: str
    stage: str
    team: str
    raised_with: str | None
    delegated: bool
    state: str
    raised_by: str
    raised_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    resolution: str | None
    assignee: str | None = None  # the member of ``team`` working on it, once assigned


def parse_kind(text: str) -> RequestKind:
    try:
        return RequestKind(text)
    except ValueError:
        raise BadInput(
            f"unknown request kind {text!r}: use {', '.join(k.value for k in RequestKind)}"
        ) from None


class Requests:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def raise_request(
        self,
        model: str,
        kind: RequestKind,
        text: str,
        actor: Person,
        raised_with: str | None = None,
    ) -> RequestInfo:
        """Record a request and assign it to the responsible team per the model's matrix."""
        if not text.strip():
            raise BadInput("say what you need with --text")
        if raised_with is not None:
            check_name(raised_with, "team name")

        def work(conn: sa.Connection) -> int:
            row = model_row(conn, model)
            routed = _route(conn, model, kind, raised_with)
            new_id = insert_id(
                conn,
                requests.insert().values(
                    model_id=row.id,
                    kind=kind.value,
                    text=text.strip(),
                    stage=routed.stage.value,
                    team=routed.team,
                    raised_with=routed.raised_with,
                    delegated=routed.delegated,
                    state="open",
                    raised_by=actor.name,
                    raised_at=utcnow(),
                ),
            )
            detail = {
                "request": new_id,
                "kind": kind.value,
                "team": routed.team,
                "raised_with": routed.raised_with,
                "delegated": routed.delegated,
            }
            append_entry(conn, actor.name, "request.open", model, None, text.strip(), detail)
            return new_id

        new_id = attempt(
            self.engine,
            work,
            actor=actor.name,
            action="request.open",
            model=model,
            reason=text.strip(),
            detail={"kind": kind.value, "raised_with": raised_with},
        )
        return self.get(new_id)

    def close(self, request_id: int, actor: Person, resolution: str | None) -> RequestInfo:
        """Close a request: only a member of the team it is assigned to may."""
        if resolution is None or not resolution.strip():
            raise BadInput("say how it was resolved with --why")

        def work(conn: sa.Connection) -> None:
            row = _open_request(conn, request_id, actor, "close")
            conn.execute(
                requests.update()
                .where(requests.c.id == request_id)
                .values(
                    state="closed",
                    closed_by=actor.name,
                    closed_at=utcnow(),
                    resolution=resolution.strip(),
                )
            )
            detail = {"request": request_id, "team": row.team}
            append_entry(
                conn, actor.name, "request.close", row.model_name, None, resolution, detail
            )

        return self._governed(
            request_id, work, actor, "request.close", resolution, {"request": request_id}
        )

    def delegate(self, request_id: int, to: str, actor: Person, reason: str | None) -> RequestInfo:
        """Pass an open request to another team R, A or C on its stage (its team's members)."""
        if reason is None or not reason.strip():
            raise BadInput("say why you pass the request on with --why")
        check_name(to, "team name")

        def work(conn: sa.Connection) -> None:
            row = _open_request(conn, request_id, actor, "pass on")
            if not known_team(conn, to):
                raise NotFound(f"unknown team {to!r}: `baton team list` shows teams")
            matrix = owners_in(conn, row.model_name).matrix
            may_delegate(matrix, Stage(row.stage), row.team, to)
            conn.execute(
                requests.update()
                .where(requests.c.id == request_id)
                .values(team=to, raised_with=row.team, delegated=True, assignee=None)
            )
            detail = {"request": request_id, "from": row.team, "team": to}
            append_entry(conn, actor.name, "request.delegate", row.model_name, None, reason, detail)

        return self._governed(
            request_id, work, actor, "request.delegate", reason, {"request": request_id, "team": to}
        )

    def assign(self, request_id: int, to: str, actor: Person, reason: str | None) -> RequestInfo:
        """Give an open request to one person of the team holding it; only that team's
        members may (the team responsible for the request's kind of work)."""
        if reason is None or not reason.strip():
            raise BadInput("say why you assign the request with --why")
        check_name(to, "user name")

        def work(conn: sa.Connection) -> None:
            row = _open_request(conn, request_id, actor, "assign")
            person = person_in(conn, to)
            if row.team not in person.teams:
                raise BadInput(
                    f"{to} is not in team {row.team}, which holds request #{request_id}: "
                    f"assign it to a member of {row.team} (`baton team list` shows them), "
                    "or pass the request on to another team first"
                )
            conn.execute(requests.update().where(requests.c.id == request_id).values(assignee=to))
            detail = {"request": request_id, "team": row.team, "from": row.assignee, "to": to}
            append_entry(conn, actor.name, "request.assign", row.model_name, None, reason, detail)

        return self._governed(
            request_id, work, actor, "request.assign", reason, {"request": request_id, "to": to}
        )

    def _governed(
        self,
        request_id: int,
        work: Callable[[sa.Connection], None],
        actor: Person,
        action: str,
        reason: str,
        detail: dict[str, object],
    ) -> RequestInfo:
        """Change one request (a refusal is audited under its model) and read it back."""
        model = self._model_of(request_id)
        attempt(self.engine, work, actor=actor.name, action=action, model=model, reason=reason,
                detail=detail)  # fmt: skip
        return self.get(request_id)

    def _model_of(self, request_id: int) -> str | None:
        with read(self.engine) as conn:
            found = conn.execute(
                sa.select(models.c.name)
                .join(requests, requests.c.model_id == models.c.id)
                .where(requests.c.id == request_id)
            ).scalar()
        return None if found is None else str(found)

    def get(self, request_id: int) -> RequestInfo:
        found = self.list(ids=[request_id])
        if not found:
            raise NotFound(f"no request #{request_id}: `baton requests` lists them")
        return found[0]

    def list(
        self,
        *,
        team: str | None = None,
        model: str | None = None,
        state: str | None = None,
        ids: list[int] | None = None,
    ) -> list[RequestInfo]:
        """Requests newest first, filtered by assigned team, model and state."""
        if state is not None and state not in STATES:
            raise BadInput(f"unknown state {state!r}: use open or closed")
        query = with_model_name(requests).order_by(requests.c.id.desc())
        if team is not None:
            query = query.where(requests.c.team == team)
        if model is not None:
            query = query.where(models.c.name == model)
        if state is not None:
            query = query.where(requests.c.state == state)
        if ids is not None:
            query = query.where(requests.c.id.in_(ids))
        with read(self.engine) as conn:
            if team is not None and not known_team(conn, team):
                raise NotFound(f"unknown team {team!r}: `baton team list` shows teams")
            return [
                RequestInfo(
                    id=r.id,
                    model=r.model_name,
                    kind=r.kind,
                    text=r.text,
                    stage=r.stage,
                    team=r.team,
                    raised_with=r.raised_with,
                    delegated=bool(r.delegated),
                    state=r.state,
                    raised_by=r.raised_by,
                    raised_at=r.raised_at,
                    closed_by=r.closed_by,
                    closed_at=r.closed_at,
                    resolution=r.resolution,
                    assignee=r.assignee,
                )
                for r in conn.execute(query)
            ]


def _route(conn: sa.Connection, model: str, kind: RequestKind, raised_with: str | None) -> Routed:
    """The team the model's matrix makes responsible; both teams named must exist."""
    if raised_with is not None and not known_team(conn, raised_with):
        raise NotFound(
            f"unknown team {raised_with!r}: `baton team list` shows teams "
            "(or leave --to out: baton picks the responsible team)"
        )
    routed = route_request(owners_in(conn, model).matrix, kind, raised_with)
    if not known_team(conn, routed.team):
        raise Conflict(
            f"the team responsible for {routed.stage.value} of {model} is "
            f"{routed.team!r}, which does not exist yet: `baton team add {routed.team}` "
            f"or fix `baton owners {model}`"
        )
    return routed


def _open_request(conn: sa.Connection, request_id: int, actor: Person, what: str) -> Any:
    """An open request the actor's team holds, or the refusal saying why not."""
    missing = f"no request #{request_id}: `baton requests` lists them"
    row = one_with_model_name(conn, requests, request_id, missing=missing, lock=True)
    if row.team not in actor.teams:
        raise NotPermitted(
            f"request #{request_id} is assigned to team {row.team}; only its members "
            f"may {what} it (your teams: {', '.join(actor.teams) or 'none'})",
            [row.team],
        )
    if row.state == "closed":
        raise Conflict(f"request #{request_id} is already closed")
    return row
