"""Rollout routes: ``baton deploy up | down | status`` and ``baton canary start | status |
pause | resume | abort | promote`` over HTTP.

Each route calls the service function the command calls (``rollout/local_deploy.py``,
``deploy_status.py``, ``canary_service.py``, through ``rollout_control.LocalRollouts`` as the
CLI and SDK do), acting as the token's owner: the services
check the roles, refuse with the same one-line reasons and write the audit log. Processes
(servers, the router, the canary's controller) start on the machine the control plane runs
on, under its ``BATON_HOME``. Routes are plain ``def``s, so FastAPI runs each in its thread
pool: a start that waits for processes to announce themselves never holds the event loop.

Only the local target is offered: a KServe rollout's apply hook is a command line (or a
folder) the server would run (or write) on behalf of the caller, which no HTTP client may
choose; start those with ``baton canary start --target kserve`` where the hook lives.
"""

from __future__ import annotations

from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request

from baton.api.auth import Gov, Me
from baton.api.schemas import (
    ERRORS,
    CanaryStartIn,
    DeployIn,
    Name,
    RolloutPage,
    SteerIn,
)
from baton.config import Settings
from baton.core.canary_roles import CanaryAction, allowed_teams
from baton.core.deployment_records import DeploymentRecord
from baton.core.refs import check_name
from baton.core.roles import NotPermitted
from baton.core.rollout_records import RolloutRecord
from baton.errors import Unavailable
from baton.rollout import canary_service
from baton.rollout.canary_service import CanaryStatus
from baton.rollout.deploy_status import DeploymentStatus, deployment_status
from baton.rollout_control import MAX_PAGE, CanaryPlan, LocalRollouts, rollout_page
from baton.store.governance import Governance
from baton.store.ownership import attempt, owners_in
from baton.store.people import Person

router = APIRouter(prefix="/v1", tags=["rollout"], responses=ERRORS)
Steered = Literal["pause", "resume", "abort", "promote"]
MAX_OFFSET = 100_000


def _acting(request: Request, gov: Governance, me: Person) -> LocalRollouts:
    """The rollout services with the control plane's settings, acting as ``me`` (the
    processes it starts, and their audit entries, name the person who asked)."""
    settings = request.app.state.settings
    if not isinstance(settings, Settings):
        raise Unavailable(
            "this control plane was built without settings, so it cannot start processes: "
            "run it with `baton api`"
        )
    return LocalRollouts(settings.model_copy(update={"user": me.name}), gov.store)


@router.get("/models/{name}/canary")
def canary_status(name: Name, gov: Gov, _me: Me) -> CanaryStatus:
    """The model's canary in progress, else its latest: its step and weights, each judged
    interval with its numbers per metric, alerts, and whether a controller holds it."""
    return canary_service.status(gov.store, check_name(name))


@router.get("/models/{name}/rollouts")
def rollouts(
    name: Name,
    gov: Gov,
    _me: Me,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> RolloutPage:
    """The model's rollouts, newest first, a page at a time."""
    return RolloutPage(*rollout_page(gov.store, check_name(name), limit, offset))


@router.post("/models/{name}/canary", status_code=201)
def canary_start(
    name: Name, body: CanaryStartIn, request: Request, gov: Gov, me: Me
) -> RolloutRecord:
    """Start rolling the model out to ``version`` behind its router (it must be deployed,
    the version approved for production through a canary; teams R or A of deployment).
    Answers once the canary's controller holds the rollout."""
    plan = CanaryPlan(
        body.profile, None if body.steps is None else tuple(body.steps), body.interval_s,
        body.min_requests, body.deadline_s,
    )  # fmt: skip
    return _acting(request, gov, me).canary_start(check_name(name), body.version, body.why, plan)


@router.post("/models/{name}/canary/{action}")
def canary_steer(
    name: Name, action: Steered, body: SteerIn, request: Request, gov: Gov, me: Me
) -> RolloutRecord:
    """Pause, resume or abort the canary (teams R or A of deployment or on-call), or promote
    it now, skipping the steps left (the team accountable for deployment); ``why`` is
    required. The controller carries it out; one is started if none holds the rollout."""
    return _acting(request, gov, me).canary_steer(check_name(name), action, body.why)


@router.get("/deployments")
def deployments(
    request: Request, gov: Gov, _me: Me, model: Annotated[Name | None, Query()] = None
) -> list[DeploymentStatus]:
    """Deployments (of one model, or all): the router and the weights it applies now, each
    server, whether each process runs and the keeper of each deployment it started (checked
    where the control plane runs), and the canary in progress."""
    if model is not None:
        gov.store.registry.model(check_name(model))  # an unknown model is a 404, not []
    settings = request.app.state.settings
    return deployment_status(gov.store, model, settings if isinstance(settings, Settings) else None)


@router.post("/models/{name}/deployment", status_code=201)
def deploy_up(name: Name, body: DeployIn, request: Request, gov: Gov, me: Me) -> DeploymentRecord:
    """Run the model's @production version behind a router on the control plane's machine
    (teams R or A of deployment); answers once both serve."""
    rollouts = _acting(request, gov, me)
    _may_deploy(gov, check_name(name), me, "up", body.why)
    return rollouts.deploy_up(name, body.drain_timeout_s, body.why)


@router.post("/models/{name}/deployment/down")
def deploy_down(name: Name, body: DeployIn, request: Request, gov: Gov, me: Me) -> DeploymentRecord:
    """Stop the model's router and servers (each drains its requests) and clear the record;
    refused (409) while a canary runs: abort it first."""
    rollouts = _acting(request, gov, me)
    _may_deploy(gov, check_name(name), me, "down", body.why)
    return rollouts.deploy_down(name, body.drain_timeout_s, body.why)


def _may_deploy(gov: Governance, model: str, me: Person, what: str, why: str | None) -> None:
    """Over HTTP, starting and stopping processes is for the teams R or A of deployment
    (the CLI's user already has the store itself); a refusal is audited."""

    def check(conn: sa.Connection) -> None:
        allowed = allowed_teams(owners_in(conn, model).matrix, CanaryAction.START)
        if set(me.teams) & set(allowed):
            return
        who = " or ".join(f"team {t}" for t in allowed) or "no team"
        raise NotPermitted(
            f"only {who} may take {model} {what} (R or A of deployment); your teams: "
            f"{', '.join(sorted(me.teams)) or 'none'}",
            allowed,
        )

    attempt(gov.store.engine, check, actor=me.name, action=f"deploy.{what}", model=model,
            reason=why)  # fmt: skip
