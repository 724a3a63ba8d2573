"""Registry routes: models, versions, aliases, evaluations and the audit log (read mostly)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from baton.api.auth import Gov, Me
from baton.api.schemas import ERRORS, AliasIn, AliasMoved, ModelDetail, Name
from baton.core.refs import check_alias, check_name, parse_ref
from baton.core.served_at import History
from baton.store.evaluations import EvaluationRecord
from baton.store.history import model_history
from baton.store.registry import LogEntry, ModelInfo, VersionInfo

router = APIRouter(prefix="/v1", tags=["registry"], responses=ERRORS)


@router.get("/models")
def list_models(gov: Gov, _me: Me) -> list[ModelInfo]:
    """Every registered model with its owner, version count and aliases."""
    return gov.store.registry.models()


@router.get("/models/{name}")
def get_model(name: Name, gov: Gov, _me: Me) -> ModelDetail:
    """A model and all its versions, newest first."""
    info, versions = gov.store.registry.model(check_name(name))
    return ModelDetail(info, versions)


@router.get("/resolve")
def resolve(
    ref: Annotated[str, Query(max_length=200, description="NAME, NAME:3 or NAME@alias")],
    gov: Gov,
    _me: Me,
) -> VersionInfo:
    """The version a reference means (a bare name: @production, else the newest)."""
    return gov.store.registry.resolve(parse_ref(ref))


@router.put("/models/{name}/aliases/{alias}")
def set_alias(name: Name, alias: Name, body: AliasIn, gov: Gov, me: Me) -> AliasMoved:
    """Point an alias at a version (owner team or deployers); staging and production move
    only through promotion."""
    check_name(name)
    check_alias(alias)
    previous = gov.set_alias(name, alias, body.version, me, body.why, governed=True)
    return AliasMoved(name, alias, body.version, previous)


@router.get("/models/{name}/evaluations")
def evaluations(name: Name, gov: Gov, _me: Me) -> list[EvaluationRecord]:
    """A model's evaluations (gate runs), newest first."""
    gov.store.registry.model(check_name(name))
    return gov.store.evaluations.history(name)


@router.get("/models/{name}/history")
def history(
    name: Name,
    gov: Gov,
    _me: Me,
    at: Annotated[
        AwareDatetime | None,
        Query(description="an instant with its time zone (ISO 8601); default: now"),
    ] = None,
) -> History:
    """The model's timeline (registrations, gate verdicts, promotions and approvals, alias
    moves, renders, rollouts and each canary decision), up to ``at`` when given, and what
    served at ``at`` (or now): per alias, its version, who moved it there, the promotion and
    its approvals, and the gate verdict."""
    return model_history(gov.store.engine, check_name(name), at)


@router.get("/audit", name="audit")  # the route's name (so the OpenAPI operationId) stays
def log_entries(
    gov: Gov,
    _me: Me,
    model: Annotated[Name | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 50,
) -> list[LogEntry]:
    """The append-only audit log, newest first: who did what, when and why."""
    if model is not None:
        check_name(model)
    return gov.store.registry.log_entries(model, limit)
