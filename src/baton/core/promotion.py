"""Promotion rules: candidate -> staging -> production -> archived, and rollback. Pure.

A version's state follows from the aliases and the archive: ``@production`` points at the
production version, ``@staging`` at the staging one, archived versions are kept for the
record but never promoted again. Each step needs the approvals of the teams accountable for
the stages it involves, and staging and production need a passed evaluation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from baton.core.roles import Matrix, NotPermitted, Role, Stage
from baton.errors import Conflict, FailedCheck, Forbidden


class State(StrEnum):
    CANDIDATE = "candidate"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


class Target(StrEnum):
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"


STAGE_ALIASES = frozenset({"staging", "production"})  # move only through promotion

# Whose sign-off each step needs: the accountable team of every stage it involves.
APPROVALS: dict[Target, tuple[Stage, ...]] = {
    Target.STAGING: (Stage.EVALUATION,),
    Target.PRODUCTION: (Stage.EVALUATION, Stage.DEPLOYMENT),
    Target.ARCHIVED: (Stage.RETIREMENT,),
}
NEEDS_PASSED_EVALUATION = frozenset({Target.STAGING, Target.PRODUCTION})


@dataclass(frozen=True)
class Approval:
    """One accountable team's sign-off on a promotion step: the same record whether a
    promotion is read alone (``baton promotions``) or within a model's history."""

    stage: str
    team: str
    person: str
    at: datetime
    reason: str


def state_of(number: int, aliases: Mapping[str, int], archived: Iterable[int]) -> State:
    if number in set(archived):
        return State.ARCHIVED
    if aliases.get("production") == number:
        return State.PRODUCTION
    if aliases.get("staging") == number:
        return State.STAGING
    return State.CANDIDATE


def check_transition(ref: str, state: State, target: Target) -> None:
    """Raise Conflict, with the way forward, unless ``state -> target`` is allowed."""
    name = ref.split(":")[0]
    if state is State.ARCHIVED:
        raise Conflict(f"{ref} is archived: archived versions are never promoted again")
    if target is Target.STAGING and state is not State.CANDIDATE:
        raise Conflict(f"{ref} is already {state.value}; nothing to promote")
    if target is Target.PRODUCTION:
        if state is State.PRODUCTION:
            raise Conflict(f"{ref} is already in production")
        if state is not State.STAGING:
            raise Conflict(
                f"{ref} is {state.value}: promote it to staging first "
                f"(`baton promote {ref} --to staging`)"
            )
    if target is Target.ARCHIVED and state is State.PRODUCTION:
        raise Conflict(
            f"{ref} is serving production: promote another version or "
            f"`baton rollback {name}` before archiving it"
        )


def check_evaluation(ref: str, target: Target, status: str | None) -> None:
    """Staging and production need the latest evaluation of the version to have passed."""
    if target not in NEEDS_PASSED_EVALUATION:
        return
    if status is None:
        raise FailedCheck(f"{ref} has no evaluation: evaluate it first with `baton evaluate {ref}`")
    if status != "passed":
        raise FailedCheck(
            f"{ref}'s latest evaluation {status}: fix the model and register a new version, "
            f"or re-run `baton evaluate {ref}` if the evaluation itself went wrong"
        )


def required(matrix: Matrix, target: Target) -> dict[Stage, str]:
    """Stage -> the accountable team whose approval ``target`` needs."""
    return {stage: matrix.accountable(stage) for stage in APPROVALS[target]}


def missing(matrix: Matrix, target: Target, approved: Iterable[Stage]) -> dict[Stage, str]:
    done = set(approved)
    return {s: t for s, t in required(matrix, target).items() if s not in done}


def approvable(
    matrix: Matrix,
    target: Target,
    teams: Iterable[str],
    approved: Iterable[Stage],
    *,
    requester: str,
    approver: str,
) -> list[Stage]:
    """The still-missing stages this person's teams may sign off; refusals name who can."""
    if requester == approver and not matrix.policy.self_approval:
        raise Forbidden(
            f"{approver} asked for this promotion and may not approve it too: someone else "
            "from the accountable team must (roles.yaml policy self_approval is false)"
        )
    needed = missing(matrix, target, approved)
    if not needed:
        raise Conflict("every approval this promotion needs is already given")
    mine = set(teams)
    stages = [stage for stage, team in needed.items() if team in mine]
    if not stages:
        who = " and ".join(
            f"team {team} ({Role.ACCOUNTABLE.value} on {stage.value})"
            for stage, team in needed.items()
        )
        raise NotPermitted(
            f"only {who} may approve this {target.value} promotion now; "
            f"your teams: {', '.join(sorted(mine)) or 'none'}",
            needed.values(),
        )
    return stages


def rollback_target(
    history: Iterable[tuple[str, int]], current: int | None, archived: Iterable[int]
) -> int | None:
    """The version production had before ``current``.

    ``history`` lists applied production changes oldest first as ("promote", version) or
    ("rollback", version). Promotions push and rollbacks pop back to the version they
    restored, so rolling back twice goes two releases back rather than toggling. Archived
    versions are skipped.
    """
    stack: list[int] = []
    for kind, version in history:
        if kind == "promote":
            stack.append(version)
            continue
        if stack:
            stack.pop()
        while stack and stack[-1] != version:
            stack.pop()
        if not stack:
            stack.append(version)
    if current in stack:
        stack = stack[: len(stack) - 1 - stack[::-1].index(current)]
    gone = set(archived)
    for version in reversed(stack):
        if version != current and version not in gone:
            return version
    return None
