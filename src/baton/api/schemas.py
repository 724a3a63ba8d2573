"""Request bodies and the few response shapes that are not service dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from baton.core.promotion import Target
from baton.core.roles import RequestKind
from baton.core.rollout_records import RolloutRecord
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


Seconds = Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False)]
Percent = Annotated[int, Field(ge=1, le=50)]


class CanaryStartIn(Body):
    """``baton canary start NAME --to VERSION`` (the local target: behind the router of
    ``baton deploy up``); fields left out come from the profile."""

    version: Version
    profile: Literal["production", "test"] = "production"
    steps: Annotated[list[Percent], Field(min_length=1, max_length=20)] | None = None
    interval_s: Seconds | None = None
    min_requests: Annotated[int, Field(ge=0, le=MAX_INT)] | None = None
    deadline_s: Seconds | None = None
    why: Text | None = None


class SteerIn(Body):
    why: Text | None = Field(
        default=None,
        description="required: why you step in (audited); without it the answer is 400, "
        "with the same line the CLI prints",
    )


class DeployIn(Body):
    drain_timeout_s: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 30.0
    why: Text | None = None


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


@dataclass(frozen=True)
class RolloutPage:
    """A page of a model's rollouts, newest first; ``next_offset`` asks for the next one."""

    rollouts: list[RolloutRecord]
    next_offset: int | None
