"""Bearer-token authentication: every route but /v1/health needs a valid, unrevoked token.

``api/guard.py`` checks the token before the body is read and leaves the person in the
scope; the dependency here hands it to the routes (and names the scheme in OpenAPI).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from baton.api.guard import PERSON
from baton.errors import Unauthorized
from baton.store.governance import Governance
from baton.store.people import Person

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="a baton token: `baton user add` or `baton token new` prints one, once",
)


def governance(request: Request) -> Governance:
    gov = request.app.state.gov
    assert isinstance(gov, Governance)
    return gov


def current_person(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Person:
    person = request.scope.get(PERSON)
    if not isinstance(person, Person):  # only an app without the guard gets here
        raise Unauthorized("send a token: Authorization: Bearer <token> (BATON_TOKEN for the CLI)")
    return person


Gov = Annotated[Governance, Depends(governance)]
Me = Annotated[Person, Depends(current_person)]
