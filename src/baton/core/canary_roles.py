"""Who may steer a canary rollout. Pure: rules over the R&R matrix (``core/roles.py``).

- start one (apply an approved promotion through a canary): a team R or A of deployment;
- pause, resume or abort one: a team R or A of deployment or of on-call (the people who
  run the service and the people paged when it breaks);
- promote one now, skipping the steps left: the team accountable for deployment only,
  since it overrides the judge.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from baton.core.roles import ACTING_ROLES, Matrix, NotPermitted, Role, Stage, letters


class CanaryAction(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    ABORT = "abort"
    PROMOTE = "promote"


def allowed_teams(matrix: Matrix, action: CanaryAction) -> list[str]:
    """The teams that may take ``action``, in the matrix's order, each once."""
    if action is CanaryAction.PROMOTE:
        return matrix.teams_with(Stage.DEPLOYMENT, [Role.ACCOUNTABLE])
    stages = [Stage.DEPLOYMENT]
    if action is not CanaryAction.START:
        stages.append(Stage.ONCALL)
    found: list[str] = []
    for stage in stages:
        found += [t for t in matrix.teams_with(stage, ACTING_ROLES) if t not in found]
    return found


def may_steer(matrix: Matrix, action: CanaryAction, teams: Iterable[str]) -> None:
    """Raise NotPermitted, naming who may, unless one of ``teams`` may take ``action``."""
    allowed = allowed_teams(matrix, action)
    mine = set(teams)
    if mine & set(allowed):
        return
    roles = "A of deployment" if action is CanaryAction.PROMOTE else (
        "R or A of deployment" if action is CanaryAction.START
        else "R or A of deployment or on-call"
    )  # fmt: skip
    who = " or ".join(f"team {t} ({_roles(matrix, t)})" for t in allowed) or "no team"
    raise NotPermitted(
        f"only {who} may {action.value} a canary ({roles}); your teams: "
        f"{', '.join(sorted(mine)) or 'none'}",
        allowed,
    )


def _roles(matrix: Matrix, team: str) -> str:
    parts = []
    for stage in (Stage.DEPLOYMENT, Stage.ONCALL):
        have = matrix.stages[stage].get(team)
        if have:
            parts.append(f"{letters(have)} on {stage.value}")
    return ", ".join(parts)
