"""The rollout routes over real HTTP, without processes: reads of recorded rollouts (status
with each decision's numbers, pages of the list), and every refusal (bad body, unknown
model, not deployed, a role that may not act, a state that does not allow it), each with
its status and one line, and audited where the CLI's would be. ``test_rollout_live.py``
starts real processes through the same routes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.config import Settings
from baton.core.canary_profiles import spec_for
from baton.core.roles import NotPermitted
from baton.core.rollout_records import Phase
from baton.errors import BadInput, Conflict, NotFound
from baton.rollout import canary_service
from baton.rollout_control import CanaryPlan, LocalRollouts
from baton.store.canaries import Canaries
from baton.store.store import Store
from tests.api.conftest import Api, serve
from tests.baton_cli import baton, clean_env
from tests.history_factory import Past, build_past
from tests.rollout.canary_world import ship


@pytest.fixture
def past(store: Store, settings: Settings, tmp_path: Path) -> Iterator[tuple[Api, Past]]:
    """toy with two finished rollouts (2 promoted, 3 failed by a guardrail)."""
    built = build_past(store, tmp_path / "org")
    for url in serve(store, settings=settings):
        yield Api(url, built.world), built


@pytest.fixture
def approved(api: Api) -> Api:
    """@production -> 1, and version 2 approved for production through a canary."""
    ship(api.world, 1)
    ship(api.world, 2, via="canary")
    return api


def test_status_shows_the_latest_rollout_with_each_decisions_numbers(
    past: tuple[Api, Past], store: Store
) -> None:
    api, built = past
    found = api.http("mia").get("/v1/models/toy/canary")  # any person may read
    assert found.status_code == 200, found.text
    body = found.json()
    assert body["rollout"]["id"] == built.ids["rollout3"]
    assert body["rollout"]["phase"] == "failed" and body["owned"] is False
    (decision,) = body["decisions"]
    assert decision["decision"] == "rollback"
    assert decision["metrics"]["nonfinite"]["canary"] == 12
    assert decision["metrics"]["nonfinite"]["message"] == "NaN in 12 outputs"
    assert api.remote("mia").canary_status("toy") == canary_service.status(store, "toy")


def test_rollouts_come_newest_first_a_page_at_a_time(past: tuple[Api, Past], store: Store) -> None:
    api, built = past
    http = api.http("sam")
    first = http.get("/v1/models/toy/rollouts", params={"limit": 1}).json()
    assert [r["id"] for r in first["rollouts"]] == [built.ids["rollout3"]]
    assert first["next_offset"] == 1
    second = http.get("/v1/models/toy/rollouts", params={"limit": 1, "offset": 1}).json()
    assert [r["id"] for r in second["rollouts"]] == [built.ids["rollout2"]]
    assert second["next_offset"] is None
    assert second["rollouts"][0]["phase"] == "succeeded"
    beyond = http.get("/v1/models/toy/rollouts", params={"offset": 5}).json()
    assert beyond == {"rollouts": [], "next_offset": None}
    local = LocalRollouts(Settings(home=Path("unused")), store)
    assert api.remote("sam").rollouts("toy", 1, 0) == local.rollouts("toy", 1, 0)
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        refused = http.get("/v1/models/toy/rollouts", params=params)
        assert refused.status_code == 400, params


def test_unknown_models_are_404_and_a_model_without_canary_says_how_to_start_one(
    api: Api,
) -> None:
    http = api.http("sam")
    for path in ("/v1/models/nope/canary", "/v1/models/nope/rollouts"):
        answer = http.get(path)
        assert answer.status_code == 404 and "nope" in answer.json()["error"], path
    assert http.get("/v1/deployments", params={"model": "nope"}).status_code == 404
    never = http.get("/v1/models/toy/canary")
    assert never.status_code == 404
    assert never.json()["error"] == "toy never had a canary: `baton canary start toy --to N`"
    assert http.get("/v1/deployments").json() == []


def test_a_canary_needs_a_deployment_and_a_plan_that_holds(approved: Api) -> None:
    http = approved.http("sam")
    answer = http.post("/v1/models/toy/canary", json={"version": 2, "why": "release"})
    assert answer.status_code == 404
    assert answer.json()["error"].startswith("toy is not deployed here: `baton deploy up toy`")
    for body, says in (
        ({"version": 2, "steps": [10, 5]}, "must rise"),
        ({"version": 2, "steps": [60]}, "steps.0"),
        ({"version": 2, "profile": "fast"}, "profile"),
        ({"version": 2, "interval_s": 0}, "interval_s"),
        ({"version": 0}, "version"),
        ({"version": 2, "target": "kserve"}, "target"),  # not offered over HTTP
    ):
        refused = http.post("/v1/models/toy/canary", json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert says in refused.json()["error"], (body, refused.text)
    with pytest.raises(BadInput, match="must rise"):
        approved.remote("sam").canary_start("toy", 2, "release", CanaryPlan("test", (10, 5)))


def test_steering_needs_a_reason_a_role_and_a_canary_in_a_state_that_allows_it(
    approved: Api, store: Store
) -> None:
    w, http = approved.world, approved.http("sam")
    pause = "/v1/models/toy/canary/pause"
    why_missing = http.post(pause, json={})
    assert why_missing.status_code == 400
    assert why_missing.json()["error"] == "say why you pause the canary with --why (it is audited)"
    assert http.post(pause, json={"why": "  "}).status_code == 400
    nothing = http.post(pause, json={"why": "look"})
    assert (nothing.status_code, nothing.json()["error"]) == (
        409, "toy has no canary in progress: nothing to pause")  # fmt: skip
    assert http.post("/v1/models/toy/canary/skip", json={"why": "x"}).status_code == 400
    refused = approved.http("mia").post(pause, json={"why": "curious"})
    assert refused.status_code == 403 and refused.json()["who_can"] == ["serving"]
    assert "R or A of deployment or on-call" in refused.json()["error"]
    with pytest.raises(NotPermitted, match="A of deployment"):  # research is I of deployment
        approved.remote("alice").canary_steer("toy", "promote", "ship it")
    assert "canary.pause.refused" in w.actions()

    canaries = Canaries(store.engine, store.registry)
    rollout = canaries.start("toy", 2, w.people["sam"], "release 2", spec=spec_for("test"))
    paused = http.post(pause, json={"why": "a look at the dashboards first"})
    assert paused.status_code == 200, paused.text
    assert paused.json()["id"] == rollout.id and paused.json()["phase"] == "paused"
    again = http.post(pause, json={"why": "twice"})
    assert again.status_code == 409 and "is paused: it cannot be asked to pause" in again.text
    with pytest.raises(Conflict, match="is paused"):
        approved.remote("sue").canary_steer("toy", "pause", "thrice")
    assert canaries.rollouts.get(rollout.id).phase is Phase.PAUSED
    log = store.registry.log_entries("toy", 50)
    assert [(e.action, e.actor) for e in log[:3]] == [
        ("canary.pause.refused", "sue"), ("canary.pause.refused", "sam"), ("rollout.update", "sam"),
    ]  # fmt: skip
    assert log[2].reason == "a look at the dashboards first"  # the change, audited once
    assert [e.reason for e in log].count(log[2].reason) == 1
    started = http.post("/v1/models/toy/canary", json={"version": 2, "why": "again"})
    assert started.status_code == 404  # not deployed; the running canary is the store's 409


def test_deploying_over_http_is_for_deployments_teams_and_refusals_are_audited(
    approved: Api,
) -> None:
    w = approved.world
    refused = approved.http("mia").post("/v1/models/toy/deployment", json={"why": "mine"})
    assert refused.status_code == 403 and refused.json()["who_can"] == ["serving"]
    assert refused.json()["error"] == (
        "only team serving may take toy up (R or A of deployment); your teams: marketing"
    )
    assert "deploy.up.refused" in w.actions()
    with pytest.raises(NotPermitted):
        approved.remote("alice").deploy_down("toy", 1.0, "research stops it")
    assert "deploy.down.refused" in w.actions()
    with pytest.raises(NotFound, match="toy is not deployed here"):
        approved.remote("sam").deploy_down("toy", 1.0, "nothing runs")
    unknown = approved.http("sam").post("/v1/models/nope/deployment", json={})
    assert unknown.status_code == 404
    bad = approved.http("sam").post("/v1/models/toy/deployment", json={"drain_timeout_s": -1})
    assert bad.status_code == 400 and "drain_timeout_s" in bad.json()["error"]


def test_a_control_plane_without_settings_says_it_cannot_start_processes(
    store: Store, tmp_path: Path
) -> None:
    api = None
    for url in serve(store):
        from tests.ownership_factory import build_world

        api = Api(url, build_world(store, tmp_path))
        answer = api.http("sam").post("/v1/models/toy/deployment", json={"why": "up"})
        assert answer.status_code == 503
        assert "run it with `baton api`" in answer.json()["error"]
        assert api.http("sam").get("/v1/deployments").status_code == 200  # reads still work
    assert api is not None


def test_the_cli_prints_the_same_lines_through_the_control_plane(
    past: tuple[Api, Past], settings: Settings
) -> None:
    """``baton canary | deploy`` with BATON_URL and BATON_TOKEN: the same output and exit
    codes as on the store itself."""
    api, _built = past
    local = clean_env(settings.home, BATON_DB_URL=settings.database_url, BATON_USER="sam")
    remote = clean_env(settings.home / "elsewhere", BATON_URL=api.url,
                       BATON_TOKEN=api.world.tokens["sam"])  # fmt: skip
    for args in (
        ("canary", "status", "toy"),
        ("canary", "status", "toy", "--json"),
        ("deploy", "status"),
        ("canary", "pause", "toy", "--why", "a look"),
        ("canary", "abort", "toy"),
        ("canary", "start", "toy", "--to", "3", "--profile", "test"),
        ("deploy", "down", "toy"),
    ):
        here, there = baton(local, *args), baton(remote, *args)
        assert (there.returncode, there.stdout, there.stderr) == (
            here.returncode, here.stdout, here.stderr), args  # fmt: skip
    shown = baton(remote, "canary", "status", "toy")
    assert shown.returncode == 0 and "rollout #" in shown.stdout and "NaN in 12" in shown.stdout
    kserve = baton(remote, "canary", "start", "toy", "--to", "3", "--target", "kserve",
                   "--apply-dir", "out")  # fmt: skip
    assert kserve.returncode != 0 and "unset BATON_URL" in kserve.stderr
