"""``/v1/audits`` over real HTTP: the stored runs, the latest, one by id and by verdict,
for token holders only; an unknown run is 404, a bad verdict or id 400."""

from __future__ import annotations

from baton.store.audits import Audits
from testkit.audit_runs import audit_run
from tests.api.conftest import Api


def test_nothing_stored_is_404_with_how_to_store_one(api: Api) -> None:
    with api.http("sam") as http:
        assert http.get("/v1/audits").json() == []
        done = http.get("/v1/audits/latest")
    assert done.status_code == 404
    assert "run `baton audit`" in done.json()["error"]


def test_runs_latest_and_one_by_id(api: Api) -> None:
    audits = Audits(api.world.store.engine)
    first = audits.save(audit_run(3), actor="ci")
    second = audits.save(audit_run(12), actor="ops")
    with api.http() as anonymous:
        assert anonymous.get("/v1/audits").status_code == 401
        assert anonymous.get(f"/v1/audits/{first}").status_code == 401
    with api.http("mia") as http:
        runs = http.get("/v1/audits").json()
        assert [r["id"] for r in runs] == [second, first]
        assert runs[0]["deployments"] == 12 and runs[0]["actor"] == "ops"
        assert [r["id"] for r in http.get("/v1/audits", params={"limit": 1}).json()] == [second]
        latest = http.get("/v1/audits/latest").json()
        assert latest["run"]["id"] == second and len(latest["deployments"]) == 12
        savings = [d["savings"] for d in latest["deployments"]]
        assert savings == sorted(savings, reverse=True)
        assert latest["run"]["savings"] == sum(savings)
        one = http.get(f"/v1/audits/{first}").json()
        assert [d["name"] for d in one["deployments"]] == ["dep-0002", "dep-0001", "dep-0000"]
        idle = http.get("/v1/audits/latest", params={"verdict": "idle"}).json()
        assert [d["name"] for d in idle["deployments"]] == ["dep-0009", "dep-0003"]
        assert idle["deployments"][0]["flags"] == ["scale to zero"]
        missing = http.get(f"/v1/audits/{second + 1}")
        assert missing.status_code == 404 and "baton audit show --list" in missing.text
        for bad in (f"/v1/audits/{first}?verdict=fine", "/v1/audits/0", "/v1/audits/x"):
            assert http.get(bad).status_code == 400, bad
