"""Ownership routes: people, tokens, owners (R&R), promotion, approvals, requests.

Each route translates HTTP to one service call with the token's owner as the actor; the
services decide who may, and refusals come back as 403 naming the teams that may.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from baton.api.auth import Gov, Me
from baton.api.schemas import (
    ERRORS,
    MAX_INT,
    AssignIn,
    Name,
    RequestIn,
    RolesIn,
    StepIn,
    TeamIn,
    Text,
    UserIn,
    WhyIn,
)
from baton.core.refs import check_name
from baton.store.approvals import PromotionInfo
from baton.store.governance import NewUser
from baton.store.people import Issued, Person, TeamInfo, TokenInfo
from baton.store.requests import RequestInfo

router = APIRouter(prefix="/v1", responses=ERRORS)
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{1,16}$")]
RequestId = Annotated[int, Path(ge=1, le=MAX_INT)]


@router.get("/health", tags=["people"])
def health() -> dict[str, str]:
    """Liveness; needs no token."""
    return {"status": "ok"}


@router.get("/whoami", tags=["people"])
def whoami(me: Me) -> Person:
    return me


@router.get("/teams", tags=["people"])
def teams(gov: Gov, _me: Me) -> list[TeamInfo]:
    return gov.people.teams()


@router.post("/teams", tags=["people"], status_code=201)
def add_team(body: TeamIn, gov: Gov, me: Me) -> TeamInfo:
    """Create a team (admins only)."""
    return gov.people.add_team(body.name, me, body.why)


@router.get("/users", tags=["people"])
def users(gov: Gov, _me: Me) -> list[Person]:
    return gov.people.people()


@router.post("/users", tags=["people"], status_code=201)
def add_user(body: UserIn, gov: Gov, me: Me) -> NewUser:
    """Add a person to teams (admins only); the response holds their token, shown once."""
    person, issued = gov.people.add_person(
        body.name, body.teams, me, admin=body.admin, reason=body.why
    )
    return NewUser(person, issued)


@router.put("/users/{name}/teams/{team}", tags=["people"])
def join_team(
    name: Name, team: Name, gov: Gov, me: Me, why: Annotated[Text | None, Query()] = None
) -> Person:
    """Add a person to a team (admins only)."""
    return gov.people.set_membership(
        check_name(name, "user name"), check_name(team, "team name"), me, member=True, reason=why
    )


@router.delete("/users/{name}/teams/{team}", tags=["people"])
def leave_team(
    name: Name, team: Name, gov: Gov, me: Me, why: Annotated[Text | None, Query()] = None
) -> Person:
    """Take a person off a team (admins only)."""
    return gov.people.set_membership(
        check_name(name, "user name"), check_name(team, "team name"), me, member=False, reason=why
    )


@router.get("/tokens", tags=["people"])
def tokens(gov: Gov, _me: Me, user: Annotated[Name | None, Query()] = None) -> list[TokenInfo]:
    """Token ids and their state; never the tokens themselves."""
    return gov.people.tokens(user)


@router.post("/users/{name}/tokens", tags=["people"], status_code=201)
def issue_token(name: Name, gov: Gov, me: Me) -> Issued:
    """A new token for a person (themselves or an admin); shown once."""
    return gov.people.issue_token(check_name(name, "user name"), me)


@router.post("/tokens/{public_id}/revoke", tags=["people"])
def revoke_token(public_id: TokenId, body: WhyIn, gov: Gov, me: Me) -> TokenInfo:
    return gov.people.revoke_token(public_id, me, body.why)


@router.get("/owners", tags=["owners"])
def site_owners(gov: Gov, _me: Me) -> dict[str, object]:
    """The site-wide R&R matrix ({owner} stands for each model's owner team)."""
    return dict(gov.roles.owners(None).document())


@router.put("/owners", tags=["owners"])
def set_site_owners(body: RolesIn, gov: Gov, me: Me) -> dict[str, object]:
    return dict(gov.roles.set_roles(None, body.document, me, body.why).document())


@router.get("/models/{name}/owners", tags=["owners"])
def owners(name: Name, gov: Gov, _me: Me) -> dict[str, object]:
    """The R&R matrix in force for a model, and where it comes from."""
    return dict(gov.roles.owners(check_name(name)).document())


@router.put("/models/{name}/owners", tags=["owners"])
def set_owners(name: Name, body: RolesIn, gov: Gov, me: Me) -> dict[str, object]:
    return dict(gov.roles.set_roles(check_name(name), body.document, me, body.why).document())


@router.get("/promotions", tags=["promotion"])
def promotions(
    gov: Gov,
    _me: Me,
    model: Annotated[Name | None, Query()] = None,
    pending: bool = False,
) -> list[PromotionInfo]:
    if model is not None:
        check_name(model)
    return gov.promotions.history(model, pending_only=pending)


@router.post("/models/{name}/promotions", tags=["promotion"], status_code=201)
def promote(name: Name, body: StepIn, gov: Gov, me: Me) -> PromotionInfo:
    """Ask for a version to move to staging, production or the archive."""
    return gov.promotions.promote(check_name(name), body.version, body.to, me, body.why, body.via)


@router.post("/models/{name}/promotions/approve", tags=["promotion"])
def approve(name: Name, body: StepIn, gov: Gov, me: Me) -> PromotionInfo:
    """Approve a pending step for the stages your teams are accountable for."""
    return gov.promotions.approve(check_name(name), body.version, body.to, me, body.why)


@router.post("/models/{name}/promotions/cancel", tags=["promotion"])
def cancel(name: Name, body: StepIn, gov: Gov, me: Me) -> PromotionInfo:
    return gov.promotions.cancel(check_name(name), body.version, body.to, me, body.why)


@router.post("/models/{name}/rollback", tags=["promotion"])
def rollback(name: Name, body: WhyIn, gov: Gov, me: Me) -> PromotionInfo:
    """Put the previous production version back, now (on-call)."""
    return gov.promotions.rollback(check_name(name), me, body.why)


@router.get("/requests", tags=["requests"])
def list_requests(
    gov: Gov,
    _me: Me,
    team: Annotated[Name | None, Query()] = None,
    model: Annotated[Name | None, Query()] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
) -> list[RequestInfo]:
    for value, what in ((team, "team name"), (model, "model name")):
        if value is not None:
            check_name(value, what)
    return gov.requests.list(team=team, model=model, state=state)


@router.post("/requests", tags=["requests"], status_code=201)
def raise_request(body: RequestIn, gov: Gov, me: Me) -> RequestInfo:
    """Raise a request; it goes to the team responsible for its kind of work."""
    return gov.requests.raise_request(check_name(body.model), body.kind, body.text, me, body.to)


@router.post("/requests/{request_id}/close", tags=["requests"])
def close_request(request_id: RequestId, body: WhyIn, gov: Gov, me: Me) -> RequestInfo:
    return gov.requests.close(request_id, me, body.why)


@router.post("/requests/{request_id}/assign", tags=["requests"])
def assign_request(request_id: RequestId, body: AssignIn, gov: Gov, me: Me) -> RequestInfo:
    """Give an open request to one member of the team holding it (that team's members)."""
    return gov.requests.assign(request_id, body.to, me, body.why)
