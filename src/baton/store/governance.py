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
