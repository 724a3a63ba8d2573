"""Request bodies and the few response shapes that are not service dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from baton.core.promotion import Target
from baton.core.roles import RequestKind
from baton.store.registry import ModelInfo, VersionInfo

MAX_INT = 2**31 - 1


def _printable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, Field(max_length=4000), AfterValidator(_printable)]
Name = Annotated[str, Field(min_length=1, max_length=63), AfterValidator(_printable)]
Version = Annotated[int, Field(ge=1, le=MAX_INT)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamIn(Body):
    name: Name
    why: Text | None = None


class UserIn(Body):
    name: Name
    teams: Annotated[list[Name], Field(min_length=1, max_length=20)]
    admin: bool = False
    why: Text | None = None


class WhyIn(Body):
    why: Text | None = None


class AliasIn(Body):
    version: Version
    why: Text | None = None


class StepIn(Body):
    version: Version
    to: Target
    why: Text | None = None
    via: Literal["canary"] | None = None  # production through a canary rollout


class RolesIn(Body):
    document: dict[str, object]  # a roles.yaml document, checked by core.roles
    why: Text | None = None


class AssignIn(Body):
    to: Name  # the person, a member of the team holding the request
    why: Text | None = None


class RequestIn(Body):
    model: Name
    kind: RequestKind
    text: Text
    to: Name | None = None


class ErrorBody(BaseModel):
    """Every error: one line for a person, its kind, and for refusals the teams that may."""

    error: str
    kind: str
    who_can: list[str] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": what}
    for status, what in (
        (400, "bad input: the message says what to fix"),
        (401, "no valid token"),
        (403, "your teams may not do this; who_can lists the teams that may"),
        (404, "no such model, version, team, user, token or request"),
        (409, "clashes with the current state (e.g. a step already pending)"),
        (422, "a check said no (e.g. the evaluation failed)"),
        (503, "the database cannot be reached"),
    )
}


@dataclass(frozen=True)
class ModelDetail:
    model: ModelInfo
    versions: list[VersionInfo]


@dataclass(frozen=True)
class AliasMoved:
    model: str
    alias: str
    version: int
    previous: int | None
