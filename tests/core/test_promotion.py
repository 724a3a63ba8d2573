"""Promotion rules: every transition from every state, the evaluation gate, approvals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.promotion import (
    State,
    Target,
    approvable,
    check_evaluation,
    check_transition,
    missing,
    required,
    rollback_target,
    state_of,
)
from baton.core.roles import NotPermitted, Stage, default_matrix, parse_matrix
from baton.errors import Conflict, FailedCheck, Forbidden

ALLOWED = {
    (State.CANDIDATE, Target.STAGING),
    (State.STAGING, Target.PRODUCTION),
    (State.CANDIDATE, Target.ARCHIVED),
    (State.STAGING, Target.ARCHIVED),
}


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("target", list(Target))
def test_every_transition(state: State, target: Target) -> None:
    if (state, target) in ALLOWED:
        check_transition("m:1", state, target)
    else:
        with pytest.raises(Conflict):
            check_transition("m:1", state, target)


def test_refusals_say_the_way_forward() -> None:
    with pytest.raises(Conflict, match="`baton promote m:1 --to staging`"):
        check_transition("m:1", State.CANDIDATE, Target.PRODUCTION)
    with pytest.raises(Conflict, match="`baton rollback m`"):
        check_transition("m:1", State.PRODUCTION, Target.ARCHIVED)


def test_state_follows_aliases_and_archive() -> None:
    aliases = {"production": 2, "staging": 3, "candidate": 4}
    assert state_of(2, aliases, []) is State.PRODUCTION
    assert state_of(3, aliases, []) is State.STAGING
    assert state_of(4, aliases, []) is State.CANDIDATE
    assert state_of(1, aliases, [1]) is State.ARCHIVED


@pytest.mark.parametrize("target", list(Target))
@pytest.mark.parametrize("status", [None, "passed", "failed", "error"])
def test_evaluation_gate(target: Target, status: str | None) -> None:
    if target is Target.ARCHIVED or status == "passed":
        check_evaluation("m:1", target, status)
        return
    with pytest.raises(FailedCheck) as info:
        check_evaluation("m:1", target, status)
    if status is None:
        assert "evaluate it first with `baton evaluate m:1`" in info.value.message
    else:
        assert f"latest evaluation {status}" in info.value.message


def test_approvals_come_from_the_accountable_teams_of_the_stages_involved() -> None:
    m = default_matrix().for_owner("vision")
    assert required(m, Target.STAGING) == {Stage.EVALUATION: "vision"}
    assert required(m, Target.PRODUCTION) == {
        Stage.EVALUATION: "vision",
        Stage.DEPLOYMENT: "serving",
    }
    assert required(m, Target.ARCHIVED) == {Stage.RETIREMENT: "vision"}
    assert missing(m, Target.PRODUCTION, [Stage.EVALUATION]) == {Stage.DEPLOYMENT: "serving"}


def test_approvable_refuses_self_approval_outsiders_and_duplicates() -> None:
    m = default_matrix().for_owner("vision")
    kw = {"requester": "ann", "approver": "bea"}
    assert approvable(m, Target.PRODUCTION, ["serving"], [], **kw) == [Stage.DEPLOYMENT]
    with pytest.raises(Forbidden, match="may not approve it too"):
        approvable(m, Target.PRODUCTION, ["serving"], [], requester="ann", approver="ann")
    with pytest.raises(NotPermitted) as refused:
        approvable(m, Target.PRODUCTION, ["marketing"], [], **kw)
    assert set(refused.value.who_can) == {"vision", "serving"}
    with pytest.raises(NotPermitted, match="only team vision"):
        approvable(m, Target.PRODUCTION, ["serving"], [Stage.DEPLOYMENT], **kw)
    with pytest.raises(Conflict, match="already given"):
        approvable(m, Target.STAGING, ["vision"], [Stage.EVALUATION], **kw)
    one_team = parse_matrix({"policy": {"self_approval": True}}).for_owner("vision")
    both = approvable(one_team, Target.PRODUCTION, ["vision", "serving"], [], **kw)
    assert both == [Stage.EVALUATION, Stage.DEPLOYMENT]
    assert approvable(one_team, Target.STAGING, ["vision"], [], requester="a", approver="a")


def test_rollback_goes_back_release_by_release() -> None:
    history = [("promote", 1), ("promote", 2), ("promote", 3)]
    assert rollback_target(history, 3, []) == 2
    history.append(("rollback", 2))
    assert rollback_target(history, 2, []) == 1
    history.append(("rollback", 1))
    assert rollback_target(history, 1, []) is None
    assert rollback_target([("promote", 1), ("promote", 2), ("promote", 3)], 3, [2]) == 1
    assert rollback_target([], None, []) is None


@given(st.lists(st.integers(1, 6), min_size=1, max_size=12), st.sets(st.integers(1, 6)))
def test_rollback_never_picks_the_current_or_an_archived_version(
    promoted: list[int], archived: set[int]
) -> None:
    history = [("promote", v) for v in promoted]
    current = promoted[-1]
    target = rollback_target(history, current, archived)
    if target is not None:
        assert target != current and target not in archived and target in promoted
    while target is not None:  # rolling back repeatedly always ends
        history.append(("rollback", target))
        current, target = target, rollback_target(history, target, archived)
        assert len(history) < 40
