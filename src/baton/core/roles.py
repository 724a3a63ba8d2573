"""The R&R matrix: who is Responsible, Accountable, Consulted and Informed for each stage.

Pure rules, no I/O. Authorization, approvals and request routing all read the same matrix,
so what ``baton owners`` prints is exactly what baton enforces. A matrix names teams; the
built-in default names the model's owner team (``{owner}``, from baton.yaml) and a team
called ``serving``: research answers for model quality, serving for deployment and runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypedDict

from baton.core.refs import check_name
from baton.errors import BadInput, Forbidden

OWNER = "{owner}"  # placeholder for the model's owner team (never a valid team name)
SERVING = "serving"


class Stage(StrEnum):
    HANDOVER = "hand-over"
    EVALUATION = "evaluation"
    APPROVAL = "approval"
    DEPLOYMENT = "deployment"
    ONCALL = "on-call"
    RETIREMENT = "retirement"


class Role(StrEnum):
    RESPONSIBLE = "R"
    ACCOUNTABLE = "A"
    CONSULTED = "C"
    INFORMED = "I"


class Action(StrEnum):
    """Things people do that the matrix governs; each is done by R or A of one stage."""

    PROMOTE = "promote"  # ask for a version to move to staging or production
    ARCHIVE = "archive"  # ask for a version to be archived
    ROLLBACK = "rollback"  # put the previous production version back, now
    SET_ROLES = "set-roles"  # change a model's matrix


ACTING_STAGE: dict[Action, Stage] = {
    Action.PROMOTE: Stage.APPROVAL,
    Action.ARCHIVE: Stage.RETIREMENT,
    Action.ROLLBACK: Stage.ONCALL,
    Action.SET_ROLES: Stage.HANDOVER,
}
ACTING_ROLES = frozenset({Role.RESPONSIBLE, Role.ACCOUNTABLE})


class RequestKind(StrEnum):
    RETRAIN = "retrain"
    FEATURE = "feature"
    SCALE = "scale"
    INCIDENT = "incident"


REQUEST_STAGE: dict[RequestKind, Stage] = {
    RequestKind.RETRAIN: Stage.HANDOVER,
    RequestKind.FEATURE: Stage.HANDOVER,
    RequestKind.SCALE: Stage.DEPLOYMENT,
    RequestKind.INCIDENT: Stage.ONCALL,
}

_R, _A, _C, _I = Role.RESPONSIBLE, Role.ACCOUNTABLE, Role.CONSULTED, Role.INFORMED
DEFAULT_STAGES: dict[Stage, dict[str, frozenset[Role]]] = {
    Stage.HANDOVER: {OWNER: frozenset({_R, _A}), SERVING: frozenset({_C})},
    Stage.EVALUATION: {OWNER: frozenset({_A}), SERVING: frozenset({_R})},
    Stage.APPROVAL: {OWNER: frozenset({_R}), SERVING: frozenset({_R, _A})},
    Stage.DEPLOYMENT: {SERVING: frozenset({_R, _A}), OWNER: frozenset({_I})},
    Stage.ONCALL: {SERVING: frozenset({_R, _A}), OWNER: frozenset({_C})},
    Stage.RETIREMENT: {OWNER: frozenset({_A}), SERVING: frozenset({_R})},
}


class NotPermitted(Forbidden):
    """A refusal that names who may do it instead (the API puts ``who_can`` in the body)."""

    def __init__(self, message: str, who_can: Iterable[str]) -> None:
        super().__init__(message)
        self.who_can = tuple(who_can)


class ApprovalPolicyJSON(TypedDict):
    self_approval: bool


class MatrixJSON(TypedDict):
    """A matrix as roles.yaml, the store and the API write it: stage -> team -> letters."""

    stages: dict[str, dict[str, str]]
    policy: ApprovalPolicyJSON


@dataclass(frozen=True)
class ApprovalPolicy:
    """roles.yaml's ``policy`` section: how approvals work (the gate's thresholds are
    ``core.policy.Policy``)."""

    self_approval: bool = False  # may the person who asked for a promotion also approve it?


@dataclass(frozen=True)
class Matrix:
    """Stage -> team -> roles, with the approval policy. Build with ``parse_matrix``."""

    stages: Mapping[Stage, Mapping[str, frozenset[Role]]]
    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)

    def teams_with(self, stage: Stage, roles: Iterable[Role]) -> list[str]:
        wanted = set(roles)
        return [team for team, have in self.stages[stage].items() if have & wanted]

    def accountable(self, stage: Stage) -> str:
        return self.teams_with(stage, [Role.ACCOUNTABLE])[0]

    def responsible(self, stage: Stage) -> str:
        """The team that does the work: the first R, or the accountable team if none is R."""
        found = self.teams_with(stage, [Role.RESPONSIBLE])
        return found[0] if found else self.accountable(stage)

    def teams(self) -> set[str]:
        return {team for row in self.stages.values() for team in row}

    def for_owner(self, owner: str) -> Matrix:
        """The matrix with ``{owner}`` replaced by the model's owner team."""
        stages: dict[Stage, dict[str, frozenset[Role]]] = {}
        for stage, row in self.stages.items():
            merged: dict[str, frozenset[Role]] = {}
            for team, roles in row.items():
                name = owner if team == OWNER else team
                merged[name] = merged.get(name, frozenset()) | roles
            stages[stage] = merged
        return Matrix(stages, self.policy)

    def to_document(self) -> MatrixJSON:
        """The roles.yaml form: letters in R, A, C, I order."""
        return {
            "stages": {
                stage.value: {team: letters(roles) for team, roles in self.stages[stage].items()}
                for stage in Stage
            },
            "policy": {"self_approval": self.policy.self_approval},
        }


def letters(roles: Iterable[Role]) -> str:
    have = set(roles)
    return "".join(r.value for r in Role if r in have)


def default_matrix() -> Matrix:
    return Matrix(DEFAULT_STAGES)


def parse_matrix(document: Any, *, base: Matrix | None = None) -> Matrix:
    """Read a roles.yaml document; stages it leaves out keep ``base`` (the defaults).

    Refuses unknown stages, unknown letters, bad team names and any stage without exactly
    one accountable team, naming the place to fix.
    """
    base = base or default_matrix()
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise BadInput("roles.yaml must be a mapping with 'stages' (and optionally 'policy')")
    unknown_keys = set(document) - {"stages", "policy"}
    if unknown_keys:
        raise BadInput(
            f"roles.yaml: unknown key(s) {', '.join(sorted(map(str, unknown_keys)))}: "
            "use 'stages' and 'policy'"
        )
    stages: dict[Stage, Mapping[str, frozenset[Role]]] = dict(base.stages)
    given = document.get("stages")
    given = {} if given is None else given
    if not isinstance(given, dict):
        raise BadInput("roles.yaml: 'stages' must map a stage to {team: letters}")
    for raw_stage, row in given.items():
        stage = _stage(raw_stage)
        if not isinstance(row, dict) or not row:
            raise BadInput(
                f"roles.yaml: stages.{stage.value} must map teams to letters, "
                "as in {research: A, serving: R}"
            )
        stages[stage] = {
            _team(team, stage): _roles(value, stage, str(team)) for team, value in row.items()
        }
    matrix = Matrix(stages, _policy(document.get("policy"), base.policy))
    check_matrix(matrix)
    return matrix


def check_matrix(matrix: Matrix, known_teams: set[str] | None = None) -> None:
    """Each stage exactly one accountable team; with ``known_teams``, no unknown team."""
    for stage in Stage:
        if stage not in matrix.stages:
            raise BadInput(f"roles: stage {stage.value} is missing")
        accountable = matrix.teams_with(stage, [Role.ACCOUNTABLE])
        if len(accountable) != 1:
            got = ", ".join(accountable) or "none"
            raise BadInput(
                f"roles: stage {stage.value} needs exactly one accountable (A) team, it has {got}"
            )
    if known_teams is not None:
        unknown = sorted(matrix.teams() - known_teams - {OWNER})
        if unknown:
            raise BadInput(
                f"roles: unknown team(s) {', '.join(unknown)}: create them with "
                f"`baton team add NAME` or fix the team names"
            )


def may_act(matrix: Matrix, action: Action, teams: Iterable[str]) -> None:
    """Raise NotPermitted unless one of ``teams`` is R or A for the action's stage."""
    stage = ACTING_STAGE[action]
    allowed = matrix.teams_with(stage, ACTING_ROLES)
    if set(teams) & set(allowed):
        return
    raise NotPermitted(
        f"only {_describe(matrix, stage, allowed)} may {action.value} "
        f"(stage {stage.value}); your teams: {', '.join(sorted(teams)) or 'none'}",
        allowed,
    )


def may_move_alias(matrix: Matrix, owner: str, alias: str, teams: Iterable[str]) -> None:
    """Raise NotPermitted unless one of ``teams`` owns the model or is R or A of deployment.

    Moving a non-stage alias (``@shadow``, ``@candidate``, ``@canary``...) changes what a
    server following ``NAME@alias`` runs, so it is the owner's or the deployers' call.
    """
    deployers = matrix.teams_with(Stage.DEPLOYMENT, ACTING_ROLES)
    allowed = [owner, *(team for team in deployers if team != owner)]
    mine = set(teams)
    if mine & set(allowed):
        return
    who = " or ".join(
        [f"the owner team {owner}"]
        + [_describe(matrix, Stage.DEPLOYMENT, [t]) for t in allowed[1:]]
    )
    raise NotPermitted(
        f"only {who} may move @{alias}; your teams: {', '.join(sorted(mine)) or 'none'}",
        allowed,
    )


def _describe(matrix: Matrix, stage: Stage, teams: list[str]) -> str:
    return " or ".join(
        f"team {t} ({letters(matrix.stages[stage][t])} on {stage.value})" for t in teams
    )


@dataclass(frozen=True)
class Routed:
    team: str  # the team the request is assigned to
    stage: Stage
    delegated: bool  # raised with another team, passed on to this one
    raised_with: str | None


def route_request(matrix: Matrix, kind: RequestKind, raised_with: str | None = None) -> Routed:
    """Assign a request to the team responsible for its kind of work.

    A request raised with a team that is not responsible goes to the right one, marked as
    delegated; it is never dropped.
    """
    stage = REQUEST_STAGE[kind]
    responsible = matrix.teams_with(stage, [Role.RESPONSIBLE]) or [matrix.accountable(stage)]
    if raised_with is not None and raised_with in responsible:
        return Routed(raised_with, stage, False, raised_with)
    return Routed(responsible[0], stage, raised_with is not None, raised_with)


def _stage(raw: Any) -> Stage:
    try:
        return Stage(str(raw))
    except ValueError:
        raise BadInput(
            f"roles.yaml: unknown stage {raw!r}: use {', '.join(s.value for s in Stage)}"
        ) from None


def _team(raw: Any, stage: Stage) -> str:
    name = str(raw)
    if name == OWNER:
        return name
    return check_name(name, f"team in stages.{stage.value}")


def _roles(raw: Any, stage: Stage, team: str) -> frozenset[Role]:
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        raw = "".join(raw)
    if not isinstance(raw, str):
        raise BadInput(
            f"roles.yaml: stages.{stage.value}.{team}: {raw!r} is not letters (for example RA)"
        )
    text = raw
    text = text.replace(",", "").replace(" ", "").upper()
    found: set[Role] = set()
    for ch in text:
        try:
            found.add(Role(ch))
        except ValueError:
            raise BadInput(
                f"roles.yaml: stages.{stage.value}.{team}: {raw!r} is not made of R, A, C, I "
                "(for example RA)"
            ) from None
    if not found:
        raise BadInput(f"roles.yaml: stages.{stage.value}.{team} has no letters: use R, A, C, I")
    return frozenset(found)


def _policy(raw: Any, base: ApprovalPolicy) -> ApprovalPolicy:
    if raw is None:
        return base
    if not isinstance(raw, dict) or set(raw) - {"self_approval"}:
        raise BadInput("roles.yaml: 'policy' takes one key, self_approval: true|false")
    value = raw.get("self_approval", base.self_approval)
    if not isinstance(value, bool):
        raise BadInput(f"roles.yaml: policy.self_approval must be true or false, not {value!r}")
    return ApprovalPolicy(self_approval=value)


DELEGATE_ROLES = frozenset({Role.RESPONSIBLE, Role.ACCOUNTABLE, Role.CONSULTED})


def delegate_targets(matrix: Matrix, stage: Stage, current: str) -> list[str]:
    """The teams a request of ``stage`` may be passed to: R, A or C on that stage.

    Informed teams are told, not asked to act, so work is never passed to them.
    """
    return [t for t in matrix.teams_with(stage, DELEGATE_ROLES) if t != current]


def may_delegate(matrix: Matrix, stage: Stage, current: str, to: str) -> None:
    """Raise NotPermitted unless ``to`` may take over a request of ``stage`` from ``current``."""
    allowed = delegate_targets(matrix, stage, current)
    if to in allowed:
        return
    raise NotPermitted(
        f"a {stage.value} request may go only to a team R, A or C on {stage.value} "
        f"({', '.join(allowed) or 'none besides ' + current}), not to {to}",
        allowed,
    )
