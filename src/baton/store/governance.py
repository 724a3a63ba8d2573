"""One interface for the control plane, so the CLI does not care where the store is.

``Control`` is what the commands call. ``LocalControl`` runs the services on the store in
this process, acting as ``BATON_USER``; ``baton.client.RemoteControl`` sends the same calls
to a ``baton api`` server, acting as the owner of ``BATON_TOKEN``. Both hand back the same
dataclasses, so every command prints the same output either way. The API routes call the
same service methods as ``LocalControl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa

from baton.core.promotion import STAGE_ALIASES, Target
from baton.core.refs import Ref, check_alias
from baton.core.roles import RequestKind, may_move_alias
from baton.core.served_at import History
from baton.errors import Forbidden
from baton.store.approvals import PromotionInfo, Promotions
from baton.store.evaluations import EvaluationRecord
from baton.store.history import model_history
from baton.store.ownership import Owners, Roles, attempt, model_row, owners_in
from baton.store.people import Issued, People, Person, TeamInfo, TokenInfo
from baton.store.registry import LogEntry, ModelInfo, VersionInfo
from baton.store.requests import RequestInfo, Requests
from baton.store.store import Store
from baton.store.tx import find_version_id


@dataclass(frozen=True)
class NewUser:
    user: Person
    token: Issued


class Control(Protocol):
    """Everything the CLI asks of the registry and the control plane."""

    def models(self) -> list[ModelInfo]: ...
    def model(self, name: str) -> tuple[ModelInfo, list[VersionInfo]]: ...
    def resolve(self, ref: Ref) -> VersionInfo: ...
    def log_entries(self, model: str | None = None, limit: int = 50) -> list[LogEntry]: ...
    def evaluations(self, model: str) -> list[EvaluationRecord]: ...
    def history(self, name: str, at: datetime | None) -> History: ...
    def set_alias(self, name: str, alias: str, number: int, why: str | None) -> int | None: ...
    def whoami(self) -> Person: ...
    def teams(self) -> list[TeamInfo]: ...
    def add_team(self, name: str, why: str | None) -> TeamInfo: ...
    def people(self) -> list[Person]: ...
    def add_user(self, name: str, teams: list[str], admin: bool, why: str | None) -> NewUser: ...
    def set_membership(self, name: str, team: str, member: bool, why: str | None) -> Person: ...
    def issue_token(self, name: str) -> Issued: ...
    def revoke_token(self, public_id: str, why: str | None) -> TokenInfo: ...
    def tokens(self, name: str | None) -> list[TokenInfo]: ...
    def owners(self, name: str | None) -> Owners: ...
    def set_roles(self, name: str | None, document: Any, why: str | None) -> Owners: ...
    def promote(
        self, model: str, version: int, to: Target, why: str | None, via: str | None = None
    ) -> PromotionInfo: ...
    def approve(self, model: str, version: int, to: Target, why: str | None) -> PromotionInfo: ...
    def cancel(self, model: str, version: int, to: Target, why: str | None) -> PromotionInfo: ...
    def rollback(self, model: str, why: str | None) -> PromotionInfo: ...
    def promotions(self, model: str | None, pending_only: bool) -> list[PromotionInfo]: ...
    def raise_request(
        self, model: str, kind: RequestKind, text: str, to: str | None
    ) -> RequestInfo: ...
    def close_request(self, request_id: int, why: str | None) -> RequestInfo: ...
    def assign_request(self, request_id: int, to: str, why: str | None) -> RequestInfo: ...
    def requests(
        self, team: str | None, model: str | None, state: str | None
    ) -> list[RequestInfo]: ...


@dataclass
class Governance:
    """The ownership services over one store; the API and ``LocalControl`` both use these."""

    store: Store
    people: People
    roles: Roles
    promotions: Promotions
    requests: Requests

    @classmethod
    def of(cls, store: Store) -> Governance:
        return cls(
            store,
            People(store.engine),
            Roles(store.engine),
            Promotions(store.engine, store.registry),
            Requests(store.engine),
        )

    def set_alias(
        self, name: str, alias: str, number: int, actor: Person, why: str | None, *, governed: bool
    ) -> int | None:
        """Move an alias; returns the version it pointed at before.

        Once ``governed`` (the API always, the local CLI as soon as a person is registered),
        stage aliases (staging, production) move only through promotion, and any other alias
        only by the model's owner team or a team R or A of deployment. A refusal is logged.
        """
        check_alias(alias)
        registry = self.store.registry
        if not governed:
            return registry.set_alias(name, alias, number, actor.name, why)

        def work(conn: sa.Connection) -> int | None:
            row = model_row(conn, name, lock=True)
            if alias in STAGE_ALIASES:
                raise Forbidden(
                    f"@{alias} moves only through promotion, with approvals: "
                    f"`baton promote {name}:{number} --to {alias} --why ...`"
                )
            may_move_alias(owners_in(conn, name).matrix, row.owner, alias, actor.teams)
            version_id = find_version_id(conn, name, number, model_id=row.id)
            return registry.set_alias_in(
                conn, row.id, name, alias, version_id, number, actor.name, why
            )

        return attempt(
            self.store.engine,
            work,
            actor=actor.name,
            action="alias.set",
            model=name,
            version=number,
            reason=why,
            detail={"alias": alias},
        )


class LocalControl:
    """The control plane in this process, acting as ``user`` (BATON_USER)."""

    def __init__(self, store: Store, user: str) -> None:
        self.gov = Governance.of(store)
        self.store = store
        self.user = user

    def actor(self) -> Person:
        return self.gov.people.acting(self.user)

    def models(self) -> list[ModelInfo]:
        return self.store.registry.models()

    def model(self, name: str) -> tuple[ModelInfo, list[VersionInfo]]:
        return self.store.registry.model(name)

    def resolve(self, ref: Ref) -> VersionInfo:
        return self.store.registry.resolve(ref)

    def log_entries(self, model: str | None = None, limit: int = 50) -> list[LogEntry]:
        return self.store.registry.log_entries(model, limit)

    def evaluations(self, model: str) -> list[EvaluationRecord]:
        self.store.registry.model(model)
        return self.store.evaluations.history(model)

    def history(self, name: str, at: datetime | None) -> History:
        return model_history(self.store.engine, name, at)

    def set_alias(self, name: str, alias: str, number: int, why: str | None) -> int | None:
        governed = bool(self.gov.people.people())
        actor = self.actor() if governed else Person(self.user, registered=False)
        return self.gov.set_alias(name, alias, number, actor, why, governed=governed)

    def whoami(self) -> Person:
        return self.actor()

    def teams(self) -> list[TeamInfo]:
        return self.gov.people.teams()

    def add_team(self, name: str, why: str | None) -> TeamInfo:
        return self.gov.people.add_team(name, self.actor(), why)

    def people(self) -> list[Person]:
        return self.gov.people.people()

    def add_user(self, name: str, teams: list[str], admin: bool, why: str | None) -> NewUser:
        person, issued = self.gov.people.add_person(
            name, teams, self.actor(), admin=admin, reason=why
        )
        return NewUser(person, issued)

    def set_membership(self, name: str, team: str, member: bool, why: str | None) -> Person:
        return self.gov.people.set_membership(name, team, self.actor(), member=member, reason=why)

    def issue_token(self, name: str) -> Issued:
        return self.gov.people.issue_token(name, self.actor())

    def revoke_token(self, public_id: str, why: str | None) -> TokenInfo:
        return self.gov.people.revoke_token(public_id, self.actor(), why)

    def tokens(self, name: str | None) -> list[TokenInfo]:
        return self.gov.people.tokens(name)

    def owners(self, name: str | None) -> Owners:
        return self.gov.roles.owners(name)

    def set_roles(self, name: str | None, document: Any, why: str | None) -> Owners:
        return self.gov.roles.set_roles(name, document, self.actor(), why)

    def promote(
        self, model: str, version: int, to: Target, why: str | None, via: str | None = None
    ) -> PromotionInfo:
        return self.gov.promotions.promote(model, version, to, self.actor(), why, via)

    def approve(self, model: str, version: int, to: Target, why: str | None) -> PromotionInfo:
        return self.gov.promotions.approve(model, version, to, self.actor(), why)

    def cancel(self, model: str, version: int, to: Target, why: str | None) -> PromotionInfo:
        return self.gov.promotions.cancel(model, version, to, self.actor(), why)

    def rollback(self, model: str, why: str | None) -> PromotionInfo:
        return self.gov.promotions.rollback(model, self.actor(), why)

    def promotions(self, model: str | None, pending_only: bool) -> list[PromotionInfo]:
        return self.gov.promotions.history(model, pending_only=pending_only)

    def raise_request(
        self, model: str, kind: RequestKind, text: str, to: str | None
    ) -> RequestInfo:
        return self.gov.requests.raise_request(model, kind, text, self.actor(), to)

    def close_request(self, request_id: int, why: str | None) -> RequestInfo:
        return self.gov.requests.close(request_id, self.actor(), why)

    def assign_request(self, request_id: int, to: str, why: str | None) -> RequestInfo:
        return self.gov.requests.assign(request_id, to, self.actor(), why)

    def requests(self, team: str | None, model: str | None, state: str | None) -> list[RequestInfo]:
        return self.gov.requests.list(team=team, model=model, state=state)
