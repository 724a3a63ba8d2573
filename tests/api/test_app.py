"""The control plane over real HTTP: auth, every promotion step for every role, the audit."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from baton.core.promotion import Target
from baton.core.roles import NotPermitted, RequestKind
from baton.errors import FailedCheck, Forbidden, Kind
from tests.api.conftest import Api

ALL = ("root", "alice", "bob", "sam", "sue", "mia")


def test_health_needs_no_token_and_everything_else_does(api: Api) -> None:
    anon = api.http()
    assert anon.get("/v1/health").json() == {"status": "ok"}
    for path in ("/v1/models", "/v1/whoami", "/v1/audit", "/v1/requests", "/v1/teams"):
        response = anon.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer" in response.json()["error"]
    bad = anon.get("/v1/whoami", headers={"Authorization": "Bearer bt_123456789abc_nope"})
    assert bad.status_code == 401 and bad.json()["kind"] == "unauthorized"
    assert api.http("alice").get("/v1/whoami").json() == {
        "name": "alice",
        "teams": ["research"],
        "admin": False,
        "registered": True,
    }


def test_revoked_token_is_401_with_the_reason(api: Api) -> None:
    token = api.world.tokens["mia"]
    public_id = token.split("_")[1]
    revoked = api.http("mia").post(f"/v1/tokens/{public_id}/revoke", json={"why": "left"})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    again = api.http("mia").get("/v1/whoami")
    assert again.status_code == 401 and "was revoked" in again.json()["error"]
    assert token not in json.dumps(api.http("root").get("/v1/audit?limit=1000").json())


def test_people_are_managed_by_admins_only(api: Api) -> None:
    body = {"name": "zoe", "teams": ["research"], "why": "new hire"}
    refused = api.http("alice").post("/v1/users", json=body)
    assert refused.status_code == 403 and "only an admin" in refused.json()["error"]
    created = api.http("root").post("/v1/users", json=body)
    assert created.status_code == 201
    token = created.json()["token"]["token"]
    assert (
        api.http().get("/v1/whoami", headers={"Authorization": f"Bearer {token}"}).json()["name"]
        == "zoe"
    )
    unknown = api.http("root").post("/v1/users", json={"name": "zed", "teams": ["ghosts"]})
    assert unknown.status_code == 404 and "unknown team 'ghosts'" in unknown.json()["error"]
    names = [t["name"] for t in api.http("mia").get("/v1/teams").json()]
    assert names == ["marketing", "research", "serving"]


def test_forbidden_names_who_may(api: Api) -> None:
    api.world.evaluate(1)
    response = api.http("mia").post(
        "/v1/models/toy/promotions", json={"version": 1, "to": "staging", "why": "please"}
    )
    assert response.status_code == 403
    body = response.json()
    assert body["kind"] == "forbidden" and sorted(body["who_can"]) == ["research", "serving"]
    assert "only team research (R on approval) or team serving (RA on approval)" in body["error"]


# Every step and who may take it with the default matrix (research owns toy, serving runs
# it, marketing has no role, root is an admin in serving). Everyone else is refused.
STEPS: dict[str, set[str]] = {
    "request staging": {"alice", "bob", "sam", "sue", "root"},  # approval: R or A
    "approve staging": {"bob"},  # evaluation A is research; alice asked (four eyes)
    "request production": {"alice", "bob", "sam", "sue", "root"},
    "approve production": {"alice", "bob", "sue", "root"},  # evaluation A + deployment A; sam asked
    "rollback": {"sam", "sue", "root"},  # on-call R/A is serving
    "request archive": {"alice", "bob", "sam", "sue", "root"},  # retirement: research A, serving R
    "approve archive": {"alice", "bob"},  # retirement A is research; sam asked
}


def _setup(api: Api, step: str) -> None:
    """Bring toy, through the services, to the point where ``step`` is next."""
    p, who, w = api.world.gov.promotions, api.world.people, api.world
    for v in (1, 2):
        w.evaluate(v)
    p.promote("toy", 1, Target.STAGING, who["alice"], "v1")
    p.approve("toy", 1, Target.STAGING, who["bob"], "v1")
    p.promote("toy", 1, Target.PRODUCTION, who["sam"], "v1")
    p.approve("toy", 1, Target.PRODUCTION, who["bob"], "v1")
    p.approve("toy", 1, Target.PRODUCTION, who["sue"], "v1")
    if step in ("request archive", "request staging"):
        return
    if step == "approve archive":
        p.promote("toy", 3, Target.ARCHIVED, who["sam"], "superseded")
        return
    p.promote("toy", 2, Target.STAGING, who["alice"], "v2")
    if step == "approve staging":
        return
    p.approve("toy", 2, Target.STAGING, who["bob"], "v2")
    if step == "request production":
        return
    p.promote("toy", 2, Target.PRODUCTION, who["sam"], "v2")
    if step == "approve production":
        return
    p.approve("toy", 2, Target.PRODUCTION, who["bob"], "v2")
    p.approve("toy", 2, Target.PRODUCTION, who["sue"], "v2")


def _take(api: Api, who: str, step: str) -> None:
    """Take ``step`` as ``who``, over HTTP."""
    c = api.remote(who)
    verb, _, target = step.partition(" ")
    if verb == "rollback":
        c.rollback("toy", "latency")
        return
    version, to = (3, Target.ARCHIVED) if target == "archive" else (2, Target(target))
    if verb == "request":
        c.promote("toy", version, to, "go")
    else:
        c.approve("toy", version, to, "checked")


@pytest.mark.parametrize("step", list(STEPS))
def test_every_step_is_refused_to_everyone_else(api: Api, step: str) -> None:
    _setup(api, step)
    for who in sorted(set(ALL) - STEPS[step]):
        before = len(api.remote("root").log_entries("toy", 1000))
        with pytest.raises((NotPermitted, Forbidden)) as refused:
            _take(api, who, step)
        assert refused.value.kind is Kind.FORBIDDEN
        audit = api.remote("root").log_entries("toy", 1000)
        assert len(audit) == before + 1, who
        assert audit[0].action.endswith(".refused") and audit[0].actor == who
        assert audit[0].detail["refused"] == refused.value.message


def _check_done(api: Api, who: str, step: str, aliases_before: dict[str, int]) -> None:
    audit = api.remote(who).log_entries("toy", 5)
    assert audit[0].actor == who and not audit[0].action.endswith(".refused")
    after = api.remote(who).model("toy")[0].aliases
    if step == "approve staging":
        assert after["staging"] == 2
    elif step == "rollback":
        assert (aliases_before["production"], after["production"]) == (2, 1)
    else:
        assert after == aliases_before


ONE_SHOT = [s for s in STEPS if not s.startswith("request")]


@pytest.mark.parametrize(
    ("step", "who"), [(step, who) for step in ONE_SHOT for who in sorted(STEPS[step])]
)
def test_every_one_shot_step_is_allowed_to_its_roles(api: Api, step: str, who: str) -> None:
    _setup(api, step)
    aliases_before = api.remote(who).model("toy")[0].aliases
    _take(api, who, step)
    _check_done(api, who, step, aliases_before)


@pytest.mark.parametrize("step", [s for s in STEPS if s.startswith("request")])
def test_every_request_step_is_allowed_to_its_roles(api: Api, step: str) -> None:
    """A request can be withdrawn, so one setup serves every allowed person in turn."""
    _setup(api, step)
    aliases_before = api.remote("root").model("toy")[0].aliases
    version, to = (3, Target.ARCHIVED) if step.endswith("archive") else (2, Target(step[8:]))
    for who in sorted(STEPS[step]):
        _take(api, who, step)
        _check_done(api, who, step, aliases_before)
        api.remote(who).cancel("toy", version, to, "next person")


def test_failed_evaluation_is_refused_over_http(api: Api) -> None:
    api.world.evaluate(1, "failed")
    response = api.http("alice").post(
        "/v1/models/toy/promotions", json={"version": 1, "to": "staging", "why": "x"}
    )
    assert response.status_code == 422 and "latest evaluation failed" in response.json()["error"]
    with pytest.raises(FailedCheck, match="evaluate it first"):
        api.remote("alice").promote("toy", 2, Target.STAGING, "x")


def test_stage_alias_cannot_be_set_directly(api: Api) -> None:
    response = api.http("sam").put("/v1/models/toy/aliases/production", json={"version": 1})
    assert (
        response.status_code == 403 and "moves only through promotion" in response.json()["error"]
    )
    ok = api.http("sam").put("/v1/models/toy/aliases/shadow", json={"version": 1, "why": "mirror"})
    assert ok.json() == {"model": "toy", "alias": "shadow", "version": 1, "previous": None}


def test_cross_team_alias_move_is_refused(api: Api) -> None:
    for alias in ("shadow", "candidate"):
        refused = api.http("mia").put(f"/v1/models/toy/aliases/{alias}", json={"version": 1})
        assert refused.status_code == 403, refused.text
        assert refused.json()["who_can"] == ["research", "serving"]
        assert f"may move @{alias}; your teams: marketing" in refused.json()["error"]
    aliases = api.remote("mia").model("toy")[0].aliases
    assert aliases == {"candidate": 3}
    with pytest.raises(NotPermitted):
        api.remote("mia").set_alias("toy", "shadow", 2, "mine")
    assert api.remote("alice").set_alias("toy", "shadow", 2, "owner mirrors v2") is None
    log = api.http("root").get("/v1/audit", params={"model": "toy", "limit": 4}).json()
    assert [(e["actor"], e["action"]) for e in log] == [
        ("alice", "alias.set"),
        ("mia", "alias.set.refused"),
        ("mia", "alias.set.refused"),
        ("mia", "alias.set.refused"),
    ]


def test_concurrent_promotions_over_http_one_wins(api: Api) -> None:
    for v in (1, 2, 3):
        api.world.evaluate(v)

    def go(version: int) -> int:
        with api.http("alice" if version % 2 else "sam") as http:
            body = {"version": version, "to": "staging", "why": "race"}
            return http.post("/v1/models/toy/promotions", json=body).status_code

    with ThreadPoolExecutor(3) as pool:
        codes = sorted(pool.map(go, (1, 2, 3)))
    assert codes == [201, 409, 409]
    pending = api.http("mia").get("/v1/promotions", params={"model": "toy", "pending": True})
    assert len(pending.json()) == 1


def test_owners_and_requests_over_http(api: Api) -> None:
    owners = api.http("mia").get("/v1/models/toy/owners").json()
    assert owners["stages"]["on-call"] == {"serving": "RA", "research": "C"}
    bad = api.http("alice").put(
        "/v1/models/toy/owners", json={"document": {"stages": {"on-call": {"ghosts": "RA"}}}}
    )
    assert bad.status_code == 400 and "unknown team(s) ghosts" in bad.json()["error"]
    c = api.remote("mia")
    request = c.raise_request("toy", RequestKind.SCALE, "Black Friday", "research")
    assert (request.team, request.delegated) == ("serving", True)
    listed = api.http("sam").get("/v1/requests", params={"team": "serving"}).json()
    assert [(r["id"], r["state"], r["delegated"]) for r in listed] == [(request.id, "open", True)]
    refused = api.http("alice").post(f"/v1/requests/{request.id}/close", json={"why": "x"})
    assert refused.status_code == 403 and refused.json()["who_can"] == ["serving"]
    refused = api.http("alice").post(
        f"/v1/requests/{request.id}/assign", json={"to": "sam", "why": "x"}
    )
    assert refused.status_code == 403 and refused.json()["who_can"] == ["serving"]
    outsider = api.http("sam").post(
        f"/v1/requests/{request.id}/assign", json={"to": "alice", "why": "x"}
    )
    assert outsider.status_code == 400 and "alice is not in team serving" in outsider.text
    given = api.remote("sam").assign_request(request.id, "sue", "she is on call")
    assert (given.assignee, given.team) == ("sue", "serving")
    closed = api.remote("sue").close_request(request.id, "two more replicas")
    assert closed.state == "closed"


def test_bad_input_is_400_with_one_line(api: Api) -> None:
    http = api.http("sam")
    cases = [
        ("post", "/v1/models/toy/promotions", {"version": 0, "to": "staging"}),
        ("post", "/v1/models/toy/promotions", {"version": 1, "to": "heaven", "why": "x"}),
        ("post", "/v1/models/Bad%20Name/promotions", {"version": 1, "to": "staging", "why": "x"}),
        ("post", "/v1/requests", {"model": "toy", "kind": "coffee", "text": "x"}),
        ("post", "/v1/models/toy/rollback", {"why": "nul\x00"}),
        ("get", "/v1/resolve?ref=toy:0", None),
    ]
    for method, path, body in cases:
        response = http.request(method.upper(), path, json=body)
        assert response.status_code == 400, (path, response.text)
        assert "\n" not in response.json()["error"]


def test_framework_refusals_use_the_documented_error_shape(api: Api) -> None:
    """Found by schemathesis: an unparseable body came back as FastAPI's {"detail": ...}."""
    client = api.http("alice")
    broken = client.post(
        "/v1/requests", content=b"\xff not json", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code in (400, 422)
    assert set(broken.json()) >= {"error", "kind"}
    unknown = client.get("/v1/no-such-route")
    assert unknown.status_code == 404
    assert unknown.json()["kind"] == "not_found"
