"""Teams, people and their API tokens.

A token is shown once, when it is issued, and stored only as its sha256: it carries 256
random bits, so a slow password hash would add nothing but latency to every API call.
Tokens look like ``bt_<public id>_<secret>``; the public id finds the row and the digest is
compared in constant time. Nothing here ever logs or returns a stored token.

Who may manage people: an admin. The very first person added to an empty store becomes
admin, so a new installation can bootstrap itself.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from baton.core.refs import check_name
from baton.errors import BadInput, Conflict, Forbidden, NotFound, Unauthorized
from baton.store.ownership_tables import memberships, people, tokens
from baton.store.refusals import RefusalLog
from baton.store.tables import teams
from baton.store.tx import append_entry, insert_id, read, utcnow, write

TOKEN_PREFIX = "bt_"
_DUMMY_DIGEST = hashlib.sha256(b"no such token").hexdigest()


@dataclass(frozen=True)
class Person:
    """Who is acting. ``registered`` is False only for the bootstrap actor of an empty store."""

    name: str
    teams: tuple[str, ...] = ()
    admin: bool = False
    registered: bool = True


@dataclass(frozen=True)
class TeamInfo:
    name: str
    members: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class Issued:
    """A new token: ``token`` is the secret, shown this once and never stored."""

    person: str
    public_id: str
    token: str


@dataclass(frozen=True)
class TokenInfo:
    person: str
    public_id: str
    created_at: datetime
    created_by: str
    revoked_at: datetime | None


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> tuple[str, str]:
    public_id = secrets.token_hex(6)
    return public_id, f"{TOKEN_PREFIX}{public_id}_{secrets.token_urlsafe(32)}"


class SignInFailed(Unauthorized):
    """No valid token; ``why`` (invalid, revoked) and the id of a known token, for the audit log."""

    def __init__(self, message: str, why: str, token_id: str | None = None) -> None:
        super().__init__(message)
        self.why = why
        self.token_id = token_id


class AdminOnly(Forbidden):
    def __init__(self, actor: str, what: str) -> None:
        super().__init__(f"only an admin may {what}; {actor} is not an admin")
        self.actor = actor
        self.what = what


P = ParamSpec("P")
T = TypeVar("T")


def _logs_refusal(
    method: Callable[Concatenate[People, P], T],
) -> Callable[Concatenate[People, P], T]:
    """Record an admin-only refusal (throttled) once the refused work has rolled back."""

    def wrapper(self: People, /, *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(self, *args, **kwargs)
        except AdminOnly as exc:
            self.refusals.admin_refused(exc.actor, exc.what)
            raise

    functools.update_wrapper(wrapper, method)
    return wrapper


class People:
    def __init__(self, engine: Engine, refusals: RefusalLog | None = None) -> None:
        self.engine = engine
        self.refusals = refusals or RefusalLog(engine)

    # -- identity -------------------------------------------------------------------------

    def authenticate(self, token: str) -> Person:
        """The person a bearer token belongs to; Unauthorized for anything else."""
        public_id = _public_id(token)
        with read(self.engine) as conn:
            row = (
                conn.execute(
                    sa.select(tokens.c.digest, tokens.c.revoked_at, people.c.name)
                    .join(people, people.c.id == tokens.c.person_id)
                    .where(tokens.c.public_id == public_id)
                ).first()
                if public_id
                else None
            )
            matches = hmac.compare_digest(row.digest if row else _DUMMY_DIGEST, digest(token))
            if row is None or not matches:
                raise SignInFailed(
                    "the token is not valid: check BATON_TOKEN, or ask an admin for a new one "
                    "(`baton token new USER`)",
                    "invalid",
                )
            if row.revoked_at is not None:
                raise SignInFailed(
                    f"this token ({public_id}) was revoked: ask an admin for a new one "
                    "(`baton token new USER`)",
                    "revoked",
                    public_id,
                )
            return self._person(conn, row.name)

    def holder(self, public_id: str) -> Person:
        """The person a token (known by its public id) belongs to, while it is not revoked.

        The dashboard's session keeps only the public id, never the token; each request
        asks again here, so revoking the token ends the session at once.
        """
        with read(self.engine) as conn:
            row = conn.execute(
                sa.select(tokens.c.revoked_at, people.c.name)
                .join(people, people.c.id == tokens.c.person_id)
                .where(tokens.c.public_id == public_id)
            ).first()
            if row is None:
                raise SignInFailed(
                    "your session's token no longer exists: sign in again", "invalid"
                )
            if row.revoked_at is not None:
                raise SignInFailed(
                    f"the token of this session ({public_id}) was revoked: sign in with a new "
                    "one (`baton token new USER`)",
                    "revoked",
                    public_id,
                )
            return self._person(conn, row.name)

    def acting(self, name: str) -> Person:
        """The local actor (BATON_USER): a registered person, or the bootstrap actor."""
        with read(self.engine) as conn:
            if conn.execute(sa.select(people.c.id).where(people.c.name == name)).first():
                return self._person(conn, name)
            anyone = conn.execute(sa.select(people.c.id).limit(1)).first()
        if anyone is None:
            return Person(name, admin=True, registered=False)
        raise Unauthorized(
            f"{name!r} is not a baton user: ask an admin to run `baton user add {name} "
            "--team TEAM`, or set BATON_USER to your user name"
        )

    def person(self, name: str) -> Person:
        with read(self.engine) as conn:
            return self._person(conn, name)

    # -- teams ----------------------------------------------------------------------------

    @_logs_refusal
    def add_team(self, name: str, actor: Person, reason: str | None = None) -> TeamInfo:
        check_name(name, "team name")
        _need_admin(actor, f"add team {name}")

        def work(conn: sa.Connection) -> None:
            if conn.execute(sa.select(teams.c.id).where(teams.c.name == name)).first():
                raise Conflict(f"team {name!r} already exists (`baton team list` shows teams)")
            insert_id(conn, teams.insert().values(name=name, created_at=utcnow()))
            append_entry(conn, actor.name, "team.create", reason=reason, detail={"team": name})

        write(self.engine, work)
        return next(t for t in self.teams() if t.name == name)

    def teams(self) -> list[TeamInfo]:
        with read(self.engine) as conn:
            rows = conn.execute(sa.select(teams).order_by(teams.c.name)).all()
            members: dict[int, list[str]] = {}
            for team_id, person in conn.execute(
                sa.select(memberships.c.team_id, people.c.name)
                .join(people, people.c.id == memberships.c.person_id)
                .order_by(people.c.name)
            ):
                members.setdefault(team_id, []).append(person)
            return [TeamInfo(r.name, tuple(members.get(r.id, [])), r.created_at) for r in rows]

    def team_names(self) -> set[str]:
        with read(self.engine) as conn:
            return set(conn.execute(sa.select(teams.c.name)).scalars())

    # -- people and tokens ----------------------------------------------------------------

    @_logs_refusal
    def add_person(
        self,
        name: str,
        team_names: list[str],
        actor: Person,
        *,
        admin: bool = False,
        reason: str | None = None,
    ) -> tuple[Person, Issued]:
        """Add a person to one or more teams and issue their first token."""
        check_name(name, "user name")
        if not team_names:
            raise BadInput(f"say which team {name} joins: --team TEAM")
        _need_admin(actor, f"add user {name}")
        public_id, token = new_token()

        def work(conn: sa.Connection) -> None:
            first = conn.execute(sa.select(people.c.id).limit(1)).first() is None
            if conn.execute(sa.select(people.c.id).where(people.c.name == name)).first():
                raise Conflict(f"user {name!r} already exists")
            team_ids = [_team_id(conn, t) for t in team_names]
            person_id = insert_id(
                conn,
                people.insert().values(
                    name=name, admin=admin or first, created_at=utcnow(), created_by=actor.name
                ),
            )
            conn.execute(
                memberships.insert(),
                [{"person_id": person_id, "team_id": t} for t in sorted(set(team_ids))],
            )
            self._insert_token(conn, person_id, public_id, token, actor.name)
            detail = {"user": name, "teams": sorted(set(team_names)), "admin": admin or first}
            append_entry(conn, actor.name, "user.create", reason=reason, detail=detail)
            append_entry(conn, actor.name, "token.issue", detail={"user": name, "token": public_id})

        write(self.engine, work)
        return self.person(name), Issued(name, public_id, token)

    @_logs_refusal
    def set_membership(
        self, name: str, team: str, actor: Person, *, member: bool, reason: str | None = None
    ) -> Person:
        """Add a person to a team or take them off it (admins only). Their roles follow."""
        _need_admin(actor, f"change the teams of {name}")

        def work(conn: sa.Connection) -> None:
            person_id, team_id = _person_id(conn, name), _team_id(conn, team)
            key = (memberships.c.person_id == person_id) & (memberships.c.team_id == team_id)
            present = conn.execute(sa.select(memberships).where(key)).first() is not None
            if present == member:
                state = "already in" if member else "not in"
                raise Conflict(f"{name} is {state} team {team}")
            if member:
                conn.execute(memberships.insert().values(person_id=person_id, team_id=team_id))
            else:
                conn.execute(memberships.delete().where(key))
            action = "user.join" if member else "user.leave"
            append_entry(
                conn, actor.name, action, reason=reason, detail={"user": name, "team": team}
            )

        write(self.engine, work)
        return self.person(name)

    def people(self) -> list[Person]:
        with read(self.engine) as conn:
            names = conn.execute(sa.select(people.c.name).order_by(people.c.name)).scalars()
            return [self._person(conn, n) for n in list(names)]

    @_logs_refusal
    def issue_token(self, name: str, actor: Person) -> Issued:
        if actor.name != name:
            _need_admin(actor, f"issue a token for {name}")
        public_id, token = new_token()

        def work(conn: sa.Connection) -> None:
            person_id = _person_id(conn, name)
            self._insert_token(conn, person_id, public_id, token, actor.name)
            append_entry(conn, actor.name, "token.issue", detail={"user": name, "token": public_id})

        write(self.engine, work)
        return Issued(name, public_id, token)

    @_logs_refusal
    def revoke_token(self, public_id: str, actor: Person, reason: str | None = None) -> TokenInfo:
        def work(conn: sa.Connection) -> None:
            row = conn.execute(
                sa.select(tokens.c.id, tokens.c.revoked_at, people.c.name)
                .join(people, people.c.id == tokens.c.person_id)
                .where(tokens.c.public_id == public_id)
            ).first()
            if row is None:
                raise NotFound(f"no token {public_id!r}: `baton token list` shows token ids")
            if row.name != actor.name:
                _need_admin(actor, f"revoke a token of {row.name}")
            if row.revoked_at is not None:
                raise Conflict(f"token {public_id} is already revoked")
            conn.execute(
                tokens.update()
                .where(tokens.c.id == row.id)
                .values(revoked_at=utcnow(), revoked_by=actor.name)
            )
            detail = {"user": row.name, "token": public_id}
            append_entry(conn, actor.name, "token.revoke", reason=reason, detail=detail)

        write(self.engine, work)
        return next(t for t in self.tokens() if t.public_id == public_id)

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        query = (
            sa.select(tokens, people.c.name)
            .join(people, people.c.id == tokens.c.person_id)
            .order_by(tokens.c.id)
        )
        if name is not None:
            query = query.where(people.c.name == name)
        with read(self.engine) as conn:
            return [
                TokenInfo(r.name, r.public_id, r.created_at, r.created_by, r.revoked_at)
                for r in conn.execute(query)
            ]

    # -- helpers --------------------------------------------------------------------------

    def _insert_token(
        self, conn: sa.Connection, person_id: int, public_id: str, token: str, actor: str
    ) -> None:
        conn.execute(
            tokens.insert().values(
                person_id=person_id,
                public_id=public_id,
                digest=digest(token),
                created_at=utcnow(),
                created_by=actor,
            )
        )

    def _person(self, conn: sa.Connection, name: str) -> Person:
        return person_in(conn, name)


def person_in(conn: sa.Connection, name: str) -> Person:
    """A registered person and their teams, inside the caller's transaction."""
    row = conn.execute(sa.select(people).where(people.c.name == name)).first()
    if row is None:
        raise NotFound(f"unknown user {name!r}: `baton user list` shows users")
    team_names = conn.execute(
        sa.select(teams.c.name)
        .join(memberships, memberships.c.team_id == teams.c.id)
        .where(memberships.c.person_id == row.id)
        .order_by(teams.c.name)
    ).scalars()
    return Person(row.name, tuple(team_names), bool(row.admin))


def _public_id(token: str) -> str | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    public_id, _, secret = token[len(TOKEN_PREFIX) :].partition("_")
    return public_id if public_id and secret and len(public_id) <= 16 else None


def _need_admin(actor: Person, what: str) -> None:
    if not actor.admin:
        raise AdminOnly(actor.name, what)


def _team_id(conn: sa.Connection, name: str) -> int:
    found = conn.execute(sa.select(teams.c.id).where(teams.c.name == name)).scalar()
    if found is None:
        known = ", ".join(conn.execute(sa.select(teams.c.name).order_by(teams.c.name)).scalars())
        raise NotFound(
            f"unknown team {name!r} (known teams: {known or 'none'}); "
            f"create it with `baton team add {name}`"
        )
    return int(found)


def _person_id(conn: sa.Connection, name: str) -> int:
    found = conn.execute(sa.select(people.c.id).where(people.c.name == name)).scalar()
    if found is None:
        raise NotFound(f"unknown user {name!r}: `baton user list` shows users")
    return int(found)
