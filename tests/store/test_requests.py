"""Request routing to the responsible team, delegation and closing."""

from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.roles import NotPermitted, RequestKind
from baton.errors import BadInput, Conflict, NotFound
from baton.store.store import Store
from tests.ownership_factory import World, build_world


@pytest.fixture
def world(store: Store, tmp_path: Path) -> World:
    return build_world(store, tmp_path)


def test_requests_go_to_the_responsible_team_and_wrong_desks_delegate(world: World) -> None:
    r, who = world.gov.requests, world.people
    scale = r.raise_request("toy", RequestKind.SCALE, "p99 doubles at noon", who["mia"], "research")
    assert (scale.team, scale.delegated, scale.raised_with) == ("serving", True, "research")
    incident = r.raise_request("toy", RequestKind.INCIDENT, "5xx", who["mia"], "serving")
    assert (incident.team, incident.delegated) == ("serving", False)
    retrain = r.raise_request("toy", RequestKind.RETRAIN, "November data", who["sam"])
    assert (retrain.team, retrain.delegated, retrain.stage) == ("research", False, "hand-over")
    with pytest.raises(NotFound, match="unknown team 'ghosts'"):
        r.raise_request("toy", RequestKind.SCALE, "x", who["mia"], "ghosts")
    with pytest.raises(NotPermitted, match="assigned to team serving"):
        r.close(scale.id, who["alice"], "not ours")
    closed = r.close(scale.id, who["sam"], "added a replica")
    assert (closed.state, closed.closed_by) == ("closed", "sam")
    with pytest.raises(Conflict, match="already closed"):
        r.close(scale.id, who["sam"], "again")
    assert [x.id for x in r.list(team="serving", state="open")] == [incident.id]
    assert [x.id for x in r.list(team="research")] == [retrain.id]
    log = world.actions()
    assert log.count("request.open") == 3 and log.count("request.close.refused") == 2


def test_the_assigned_team_passes_a_request_on_as_the_matrix_allows(world: World) -> None:
    gov, people = world.gov, world.people
    r = gov.requests.raise_request("toy", RequestKind.RETRAIN, "more data", people["sam"])
    assert r.team == "research"
    with pytest.raises(NotPermitted, match="only its members"):
        gov.requests.delegate(r.id, "serving", people["sam"], "mine now")
    with pytest.raises(NotPermitted, match="not to marketing"):
        gov.requests.delegate(r.id, "marketing", people["alice"], "they know")
    with pytest.raises(NotFound, match="unknown team"):
        gov.requests.delegate(r.id, "nosuch", people["alice"], "x")
    passed = gov.requests.delegate(r.id, "serving", people["alice"], "needs GPUs")
    assert (passed.team, passed.delegated, passed.raised_with) == ("serving", True, "research")
    actions = world.actions()
    assert actions[0] == "request.delegate"
    assert actions.count("request.delegate.refused") == 3
    gov.requests.close(r.id, people["sam"], "retrained")
    with pytest.raises(Conflict, match="already closed"):
        gov.requests.delegate(r.id, "research", people["sam"], "back")


def test_a_member_of_the_holding_team_assigns_a_request_to_a_teammate(world: World) -> None:
    gov, people = world.gov, world.people
    r = gov.requests.raise_request("toy", RequestKind.RETRAIN, "November data", people["mia"])
    assert (r.team, r.assignee) == ("research", None)
    with pytest.raises(NotPermitted, match="only its members may assign it"):
        gov.requests.assign(r.id, "alice", people["sam"], "you know it")
    with pytest.raises(BadInput, match="sam is not in team research"):
        gov.requests.assign(r.id, "sam", people["alice"], "he knows")
    with pytest.raises(NotFound, match="unknown user 'nobody'"):
        gov.requests.assign(r.id, "nobody", people["alice"], "x")
    with pytest.raises(BadInput, match="say why"):
        gov.requests.assign(r.id, "bob", people["alice"], " ")
    assert gov.requests.get(r.id).assignee is None
    given = gov.requests.assign(r.id, "bob", people["alice"], "owns the data loader")
    assert (given.assignee, given.team) == ("bob", "research")
    entry = gov.store.registry.log_entries("toy", 1)[0]
    assert (entry.action, entry.actor, entry.reason) == (
        "request.assign",
        "alice",
        "owns the data loader",
    )
    assert entry.detail == {"request": r.id, "team": "research", "from": None, "to": "bob"}
    assert world.actions().count("request.assign.refused") == 3
    # passed to another team, the request waits for that team's own pick
    passed = gov.requests.delegate(r.id, "serving", people["bob"], "needs GPUs")
    assert (passed.team, passed.assignee) == ("serving", None)
    gov.requests.close(r.id, people["sam"], "retrained")
    with pytest.raises(Conflict, match="already closed"):
        gov.requests.assign(r.id, "sue", people["sam"], "late")


def test_migration_0011_keeps_requests_and_downgrades_cleanly(world: World) -> None:
    import sqlalchemy as sa
    from alembic import command

    from baton.store.db import _alembic_config, current_revisions, migrate

    gov, people = world.gov, world.people
    r = gov.requests.raise_request("toy", RequestKind.RETRAIN, "November data", people["mia"])
    gov.requests.assign(r.id, "bob", people["alice"], "owns the loader")
    engine = world.store.engine
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0010")
    assert current_revisions(engine) == {"0010"}
    columns = {c["name"] for c in sa.inspect(engine).get_columns("requests")}
    assert "assignee" not in columns and "team" in columns
    assert migrate(engine) is True
    again = gov.requests.get(r.id)  # the request survived both ways; the pick did not
    assert (again.text, again.team, again.assignee) == ("November data", "research", None)
