"""The R&R matrix: defaults, roles.yaml parsing and validation, who may act, routing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.roles import (
    OWNER,
    Action,
    NotPermitted,
    RequestKind,
    Role,
    Stage,
    check_matrix,
    default_matrix,
    delegate_targets,
    letters,
    may_act,
    may_delegate,
    may_move_alias,
    parse_matrix,
    route_request,
)
from baton.errors import BadInput

TEAMS = ["research", "serving", "platform", "sre"]


def test_defaults_research_answers_for_quality_serving_for_runtime() -> None:
    m = default_matrix().for_owner("vision")
    assert m.accountable(Stage.HANDOVER) == "vision"
    assert m.accountable(Stage.EVALUATION) == "vision"
    assert m.accountable(Stage.DEPLOYMENT) == "serving"
    assert m.accountable(Stage.ONCALL) == "serving"
    assert m.responsible(Stage.EVALUATION) == "serving"
    check_matrix(m, {"vision", "serving"})


def test_owner_placeholder_merges_with_a_named_team() -> None:
    doc = {"stages": {"deployment": {OWNER: "R", "serving": "A"}}}
    m = parse_matrix(doc).for_owner("serving")
    assert m.stages[Stage.DEPLOYMENT] == {
        "serving": frozenset({Role.RESPONSIBLE, Role.ACCOUNTABLE})
    }


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a mapping"),
        ({"stage": {}}, "unknown key(s) stage"),
        ({"stages": []}, "'stages' must map"),
        ({"stages": {"qa": {"x": "A"}}}, "unknown stage 'qa'"),
        ({"stages": {"evaluation": {}}}, "must map teams to letters"),
        ({"stages": {"evaluation": {"Bad Team": "A"}}}, "team in stages.evaluation"),
        ({"stages": {"evaluation": {"a": "A", "b": "A"}}}, "exactly one accountable (A) team"),
        ({"stages": {"evaluation": {"a": "R"}}}, "it has none"),
        ({"stages": {"evaluation": {"a": "AZ"}}}, "not made of R, A, C, I"),
        ({"stages": {"evaluation": {"a": ""}}}, "has no letters"),
        ({"policy": {"four_eyes": True}}, "takes one key"),
    ],
)
def test_bad_documents_name_the_place_to_fix(doc: object, message: str) -> None:
    with pytest.raises(BadInput) as info:
        parse_matrix(doc)
    assert message in info.value.message


def test_unknown_teams_are_rejected_when_teams_are_known() -> None:
    m = parse_matrix({"stages": {"on-call": {"sre": "RA"}}})
    with pytest.raises(BadInput, match="unknown team\\(s\\) sre"):
        check_matrix(m, {"serving"})
    check_matrix(m, {"serving", "sre"})


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", list(Role))
def test_only_responsible_or_accountable_may_act(action: Action, role: Role) -> None:
    from baton.core.roles import ACTING_STAGE

    stage = ACTING_STAGE[action]
    row = {"boss": "A"} if role is not Role.ACCOUNTABLE else {}
    row["team"] = letters({role})
    m = parse_matrix({"stages": {stage.value: row}})
    if role in (Role.RESPONSIBLE, Role.ACCOUNTABLE):
        may_act(m, action, ["team"])
    else:
        with pytest.raises(NotPermitted) as refused:
            may_act(m, action, ["team", "other"])
        assert refused.value.who_can == ("boss",)
        assert f"only team boss (A on {stage.value}) may {action.value}" in refused.value.message


@pytest.mark.parametrize(
    ("deployment", "teams", "allowed"),
    [
        ({"serving": "RA"}, ["vision"], True),  # the owner team
        ({"serving": "RA"}, ["serving"], True),  # R and A of deployment
        ({"serving": "A", "platform": "R"}, ["platform"], True),  # R alone is enough
        ({"serving": "A", "platform": "C"}, ["platform"], False),  # C is not
        ({"serving": "RA", "sre": "I"}, ["sre", "research"], False),
        ({"serving": "RA"}, [], False),
    ],
)
def test_owner_or_deployers_may_move_an_alias(
    deployment: dict[str, str], teams: list[str], allowed: bool
) -> None:
    m = parse_matrix({"stages": {"deployment": deployment}}).for_owner("vision")
    if allowed:
        may_move_alias(m, "vision", "shadow", teams)
        return
    with pytest.raises(NotPermitted) as refused:
        may_move_alias(m, "vision", "shadow", iter(teams))
    deployers = [t for t, r in deployment.items() if set(r) & {"R", "A"}]
    assert refused.value.who_can == ("vision", *deployers)
    assert refused.value.message.startswith("only the owner team vision or team ")
    assert f"may move @shadow; your teams: {', '.join(sorted(teams)) or 'none'}" in (
        refused.value.message
    )


@pytest.mark.parametrize(
    ("kind", "team"),
    [
        (RequestKind.RETRAIN, "vision"),
        (RequestKind.FEATURE, "vision"),
        (RequestKind.SCALE, "serving"),
        (RequestKind.INCIDENT, "serving"),
    ],
)
def test_requests_route_to_the_responsible_team(kind: RequestKind, team: str) -> None:
    m = default_matrix().for_owner("vision")
    direct = route_request(m, kind)
    assert (direct.team, direct.delegated, direct.raised_with) == (team, False, None)
    other = "serving" if team == "vision" else "vision"
    wrong = route_request(m, kind, other)
    assert (wrong.team, wrong.delegated, wrong.raised_with) == (team, True, other)
    assert route_request(m, kind, team).delegated is False


def test_routing_falls_back_to_the_accountable_team_without_a_responsible_one() -> None:
    m = parse_matrix({"stages": {"on-call": {"sre": "A", "serving": "C"}}})
    assert route_request(m, RequestKind.INCIDENT, "serving").team == "sre"


role_letters = st.sets(st.sampled_from(list(Role)), min_size=1).map(letters)
rows = st.dictionaries(st.sampled_from(TEAMS), role_letters, min_size=1, max_size=4)


@given(st.dictionaries(st.sampled_from([s.value for s in Stage]), rows))
def test_any_document_either_parses_to_a_valid_matrix_or_is_refused(
    doc: dict[str, dict[str, str]],
) -> None:
    valid = all(sum("A" in v for v in row.values()) == 1 for row in doc.values())
    if not valid:
        with pytest.raises(BadInput, match="exactly one accountable"):
            parse_matrix({"stages": doc})
        return
    m = parse_matrix({"stages": doc})
    check_matrix(m)
    assert parse_matrix(m.to_document()) == m  # roles.yaml round-trips
    for stage in Stage:
        assert len(m.teams_with(stage, [Role.ACCOUNTABLE])) == 1


def test_requests_go_only_to_teams_responsible_accountable_or_consulted() -> None:
    matrix = default_matrix().for_owner("research")
    assert delegate_targets(matrix, Stage.HANDOVER, "research") == ["serving"]  # C
    assert delegate_targets(matrix, Stage.DEPLOYMENT, "serving") == []  # owner is only I
    may_delegate(matrix, Stage.HANDOVER, "research", "serving")
    with pytest.raises(NotPermitted, match="not to marketing") as refused:
        may_delegate(matrix, Stage.HANDOVER, "research", "marketing")
    assert refused.value.who_can == ("serving",)
