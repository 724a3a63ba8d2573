"""The control plane in this process: ``Control`` over the store here, acting as
``BATON_USER``.

Apart from ``governance.py`` so that a command that only reads the registry (``baton
models``, ``show``, ``log``) does not import the ownership, promotion, request and history
services at start-up (40 ms): they load on first use.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baton.core.promotion import Target
    from baton.core.refs import Ref
    from baton.core.roles import RequestKind
    from baton.core.served_at import History
    from baton.store.approvals import PromotionInfo
    from baton.store.evaluations import EvaluationRecord
    from baton.store.governance import Governance, NewUser
    from baton.store.ownership import Owners
    from baton.store.people import Issued, Person, TeamInfo, TokenInfo
    from baton.store.registry import LogEntry, ModelInfo, VersionInfo
    from baton.store.requests import RequestInfo
    from baton.store.store import Store


class LocalControl:
    """The control plane in this process, acting as ``user`` (BATON_USER)."""

    def __init__(self, store: Store, user: str) -> None:
        self.store = store
        self.user = user

    @functools.cached_property
    def gov(self) -> Governance:
        from baton.store.governance import Governance

        return Governance.of(self.store)

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
        from baton.store.history import model_history

        return model_history(self.store.engine, name, at)

    def set_alias(self, name: str, alias: str, number: int, why: str | None) -> int | None:
        from baton.store.people import Person

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
        from baton.store.governance import NewUser

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
