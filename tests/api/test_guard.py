"""The API's front door: no body is read before the token is checked, none beyond the limit,
and failed sign-ins and refused admin actions reach the audit log, throttled."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from baton.config import Settings
from baton.errors import Forbidden
from baton.store.local_control import LocalControl
from baton.store.store import Store, open_store
from tests.api.conftest import Api, serve
from tests.api.rawhttp import Answer, post
from tests.baton_cli import clean_env, free_port
from tests.ownership_factory import build_world

MIB = 1024 * 1024


def test_no_body_is_read_before_the_token_is_checked(api: Api) -> None:
    for token in (None, "bt_0123456789ab_forged", api.world.tokens["mia"] + "x"):
        answer = post(api.url, "/v1/requests", 200 * MIB, token=token)
        assert answer.status == 401, answer
        assert answer.body["kind"] == "unauthorized"
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.headers["connection"] == "close"
        assert answer.sent < 16 * MIB  # what socket buffers hold, not the 200 MiB


def test_a_declared_length_over_the_limit_is_413_before_the_body(api: Api) -> None:
    answer = post(api.url, "/v1/requests", 200 * MIB, token=api.world.tokens["mia"])
    assert answer.status == 413, answer
    assert "over 1 MiB" in answer.body["error"] and answer.body["kind"] == "bad_input"
    assert answer.sent < 16 * MIB


def test_a_chunked_body_is_cut_at_the_limit(api: Api) -> None:
    answer = post(api.url, "/v1/requests", 64 * MIB, token=api.world.tokens["mia"], chunked=True)
    assert answer.status == 413, answer
    assert answer.sent < 16 * MIB


def test_the_limit_is_a_setting_and_bodies_under_it_reach_the_route(
    store: Store, tmp_path: Path
) -> None:
    world = build_world(store, tmp_path, versions=1)
    token = world.tokens["mia"]
    padded = {"model": "toy", "kind": "scale", "text": "x" * 3000}
    as_bytes = json.dumps(padded).encode()
    for url in serve(store, max_body=4096):
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=url, headers=headers) as http:
            assert http.post("/v1/requests", content=as_bytes).status_code == 201
            chunked = http.post("/v1/requests", content=iter([as_bytes[:100], as_bytes[100:]]))
            assert chunked.status_code == 201
        over = post(url, "/v1/requests", 5000, token=token)
        assert over.status == 413 and "over 4096 bytes" in over.body["error"]
        assert post(url, "/v1/requests", 5000, token=token, chunked=True).status == 413


def test_open_routes_take_no_body_and_unknown_routes_need_a_token(api: Api) -> None:
    anon = api.http()
    assert anon.get("/v1/health").status_code == 200
    assert anon.get("/openapi.json").status_code == 200
    assert post(api.url, "/v1/health", 10 * MIB).status == 413
    assert anon.get("/v1/no-such-route").status_code == 401
    assert api.http("mia").get("/v1/no-such-route").status_code == 404


def test_failed_sign_ins_are_audited_throttled_and_summarised(store: Store, tmp_path: Path) -> None:
    world = build_world(store, tmp_path, versions=1)
    forged = "bt_0123456789ab_" + "s3cret" * 6
    revoked = world.tokens["mia"]
    world.gov.people.revoke_token(revoked.split("_")[1], world.people["mia"], "left")
    for url in serve(store):
        for _ in range(14):
            assert post(url, "/v1/teams", 0, token=forged).status == 401
        assert post(url, "/v1/teams", 0, token=revoked).status == 401
        assert post(url, "/v1/teams", 0).status == 401
        during = [e for e in store.registry.log_entries(None, 100) if e.action == "auth.failed"]
        assert [e.detail["why"] for e in during] == ["no token", "revoked"] + ["invalid"] * 5
        assert {e.actor for e in during} == {"anonymous"}
        assert during[1].detail["token"] == revoked.split("_")[1]
        assert {e.detail["source"] for e in during} == {"127.0.0.1"}
    summary = store.registry.log_entries(None, 1)[0]  # written as the server stopped
    assert (summary.actor, summary.action) == ("baton", "auth.failed")
    assert summary.detail == {
        "source": "127.0.0.1",
        "why": "invalid",
        "suppressed": 9,
        "summary": True,
    }
    everything = json.dumps(
        [e.__dict__ for e in store.registry.log_entries(None, 1000)], default=str
    )
    assert "s3cret" not in everything and revoked not in everything


def test_refused_admin_actions_are_audited_locally_and_over_http(api: Api) -> None:
    mia = api.http("mia")
    assert mia.post("/v1/teams", json={"name": "rogue"}).status_code == 403
    local = LocalControl(api.world.store, "bob")
    for _ in range(10):
        with pytest.raises(Forbidden, match="only an admin may add user eve"):
            local.add_user("eve", ["research"], True, "let me in")
    refused = [
        e for e in api.world.store.registry.log_entries(None, 100) if e.action == "admin.refused"
    ]
    assert [(e.actor, e.detail["wanted"]) for e in refused] == [("bob", "add user eve")] * 5 + [
        ("mia", "add team rogue")
    ]
    assert [t.name for t in api.world.gov.people.teams()] == ["marketing", "research", "serving"]


@contextmanager
def baton_api(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``baton api`` as a user starts it, on a free loopback port: (URL, pid) once healthy."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "baton.cli.main", "api", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "baton api did not start in 60 s"
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def _memory(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in bytes."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_big_bodies_cost_a_live_baton_api_no_memory(tmp_path: Path) -> None:
    """Four 200 MiB bodies once took the API from 89 MiB to 1.8 GiB before their 401."""
    settings = Settings(home=tmp_path, db_url=f"sqlite:///{tmp_path / 'baton.db'}")
    store = open_store(settings)
    token = build_world(store, tmp_path / "handovers", versions=1).tokens["mia"]
    store.close()
    env = clean_env(tmp_path, BATON_DB_URL=settings.database_url)
    with baton_api(env) as (url, pid):
        before = _memory(pid)["VmRSS"]

        def attack(i: int) -> Answer:
            who = token if i >= 4 else None  # four anonymous, then four signed in, chunked
            return post(url, "/v1/requests", 200 * MIB, token=who, chunked=i >= 6)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(attack, range(8)))
        peak = _memory(pid)["VmHWM"]
    assert [a.status for a in answers] == [401] * 4 + [413] * 4
    assert all(a.seconds < 10 and a.sent < 32 * MIB for a in answers), answers
    assert peak - before < 32 * MIB, (before, peak)
