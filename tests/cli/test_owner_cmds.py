"""The real ``baton`` ownership commands in a subprocess, locally and through the API.

Read commands print byte-for-byte the same output whether they read the store directly
or go through ``baton api`` with BATON_URL and BATON_TOKEN.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from baton.config import Settings
from baton.core.promotion import Target
from baton.core.roles import RequestKind
from baton.handover.register import register_handover
from baton.store.store import open_store
from tests.api.conftest import serve
from tests.baton_cli import baton, free_port
from tests.handover_factory import write_handover
from tests.ownership_factory import World, build_world


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the command line, and each command is a process;
    the services and the API are tested on both databases in tests/store and tests/api."""
    return f"sqlite:///{tmp_path / 'baton.db'}"


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    out.update(
        BATON_HOME=str(settings.home),
        BATON_DB_URL=settings.database_url,
        COLUMNS="200",
    )
    return out


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> Iterator[World]:
    store = open_store(settings)
    yield build_world(store, tmp_path / "handovers")
    store.close()


def test_bootstrap_a_store_from_nothing(env: dict[str, str], tmp_path: Path) -> None:
    first = {**env, "BATON_USER": "root"}
    who = baton(first, "whoami")
    assert "not registered; the store has no people yet" in who.stdout
    assert baton(first, "team", "add", "serving").returncode == 0
    assert baton(first, "team", "add", "vision", "--why", "new team").returncode == 0
    added = baton(first, "user", "add", "root", "--team", "serving", "--json")
    assert added.returncode == 0, added.stderr
    body = json.loads(added.stdout)
    assert body["user"]["admin"] is True and body["token"]["token"].startswith("bt_")
    shown = baton(first, "user", "add", "ana", "--team", "vision")
    assert "shown this once" in shown.stdout and "export BATON_TOKEN=bt_" in shown.stdout
    stranger = baton({**env, "BATON_USER": "eve"}, "team", "add", "eve-team")
    assert stranger.returncode == 1
    assert "'eve' is not a baton user" in stranger.stderr
    refused = baton({**env, "BATON_USER": "ana"}, "user", "add", "bo", "--team", "vision")
    assert refused.returncode == 1 and "only an admin may add user bo" in refused.stderr
    unknown = baton(first, "user", "add", "bo", "--team", "ghosts")
    assert unknown.returncode == 2 and "unknown team 'ghosts'" in unknown.stderr
    assert "ana" in baton(first, "team", "list").stdout
    assert baton({**env, "BATON_USER": "ana"}, "whoami").stdout.startswith("ana  teams vision")
    tokens = json.loads(baton(first, "token", "list", "--json").stdout)
    assert [t["person"] for t in tokens] == ["root", "ana"]
    assert all("token" not in t for t in tokens)  # ids only


def test_promotion_flow_and_exit_codes(env: dict[str, str], world: World) -> None:
    def as_(who: str, *args: str) -> subprocess.CompletedProcess[str]:
        return baton({**env, "BATON_USER": who}, *args)

    no_eval = as_("alice", "promote", "toy:1", "--to", "staging", "--why", "ready")
    assert no_eval.returncode == 1
    assert "evaluate it first with `baton evaluate toy:1`" in no_eval.stderr
    world.evaluate(1)
    pending = as_("alice", "promote", "toy:1", "--to", "staging", "--why", "ready")
    assert pending.returncode == 0, pending.stderr
    assert "pending toy:1 → staging; waiting for approval from research (evaluation, A)" in (
        pending.stdout
    )
    outsider = as_("mia", "approve", "toy:1", "--stage", "staging", "--why", "ok")
    assert outsider.returncode == 1
    assert "only team research (A on evaluation) may approve" in outsider.stderr
    applied = as_("bob", "approve", "toy:1", "--stage", "staging", "--why", "numbers match")
    assert "toy:1 is now @staging" in applied.stdout
    direct = as_("sam", "alias", "set", "toy@production", "1")
    assert direct.returncode == 1 and "moves only through promotion" in direct.stderr
    for alias in ("shadow", "candidate"):  # a team with no role on the model
        cross = as_("mia", "alias", "set", f"toy@{alias}", "1", "--why", "mine")
        assert cross.returncode == 1 and f"may move @{alias}; your teams" in cross.stderr
    assert as_("mia", "alias", "list", "toy").stdout.splitlines() == [
        "@candidate → 3",
        "@staging → 1",
    ]
    assert as_("sam", "alias", "set", "toy@shadow", "1", "--why", "mirror").returncode == 0
    for args, message in [
        (("promote", "toy:1", "--to", "heaven", "--why", "x"), "unknown target 'heaven'"),
        (("promote", "toy:1", "--to", "production"), "say why"),
        (("request", "toy", "--kind", "coffee", "--text", "x"), "unknown request kind"),
    ]:
        result = as_("sam", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1
    history = json.loads(as_("mia", "promotions", "toy", "--json").stdout)
    assert [(p["target"], p["state"]) for p in history] == [("staging", "applied")]
    log = json.loads(as_("mia", "log", "--model", "toy", "--json", "--limit", "30").stdout)
    refused = [e for e in log if e["action"].endswith(".refused")]
    assert {e["actor"] for e in refused} == {"alice", "mia", "sam"}
    assert all(e["detail"]["refused"] for e in refused)


def test_owners_can_be_set_from_roles_yaml(
    env: dict[str, str], world: World, tmp_path: Path
) -> None:
    roles = tmp_path / "roles.yaml"
    roles.write_text("stages:\n  on-call: {research: RA, serving: C}\n", encoding="utf-8")
    refused = baton({**env, "BATON_USER": "sam"}, "owners", "toy", "--set", str(roles))
    assert refused.returncode == 1 and "only team research (RA on hand-over)" in refused.stderr
    done = baton({**env, "BATON_USER": "alice"}, "owners", "toy", "--set", str(roles), "--why", "x")
    assert done.returncode == 0, done.stderr
    assert "roles from model" in done.stdout
    row = next(line for line in done.stdout.splitlines() if "on-call" in line)
    assert row.split("│")[2].strip() == "RA"  # research column
    roles.write_text("stages: [oops\n", encoding="utf-8")
    bad = baton({**env, "BATON_USER": "alice"}, "owners", "toy", "--set", str(roles))
    assert bad.returncode == 2 and "is not valid YAML" in bad.stderr


def test_requests_assign_gives_a_request_to_a_teammate(env: dict[str, str], world: World) -> None:
    r = world.gov.requests.raise_request("toy", RequestKind.SCALE, "peak", world.people["mia"])
    sam, alice = {**env, "BATON_USER": "sam"}, {**env, "BATON_USER": "alice"}
    args = ("requests", "--assign", str(r.id), "--to", "sue", "--why", "on call")
    refused = baton(alice, *args)
    assert refused.returncode == 1 and "only its members may assign it" in refused.stderr
    no_person = baton(sam, "requests", "--assign", str(r.id), "--why", "x")
    assert no_person.returncode == 2 and "--assign ID needs --to PERSON" in no_person.stderr
    given = baton(sam, *args)
    assert given.returncode == 0, given.stderr
    assert f"assigned request #{r.id} to sue (team serving)" in given.stdout
    listed = baton(sam, "requests", "--team", "serving")
    assert "assignee" in listed.stdout and "sue" in listed.stdout
    assert world.gov.requests.get(r.id).assignee == "sue"


def test_remote_commands_print_what_local_ones_print(
    env: dict[str, str], world: World, settings: Settings
) -> None:
    world.evaluate(1)
    world.gov.requests.raise_request("toy", RequestKind.SCALE, "peak", world.people["mia"])
    local = {**env, "BATON_USER": "sam"}
    store = open_store(settings)
    try:
        for url in serve(store):
            remote = {**env, "BATON_URL": url, "BATON_TOKEN": world.tokens["sam"]}
            remote.pop("BATON_DB_URL")
            for args in (
                ("models",),
                ("show", "toy"),
                ("owners", "toy"),
                ("requests", "--team", "serving"),
                ("log", "--model", "toy", "--limit", "5"),
                ("promotions", "--json"),
            ):
                there, here = baton(remote, *args), baton(local, *args)
                assert there.returncode == here.returncode == 0, (args, there.stderr)
                assert there.stdout == here.stdout, args
            acted = baton(remote, "promote", "toy:1", "--to", "staging", "--why", "remote")
            assert "pending toy:1 → staging" in acted.stdout
            assert baton(local, "log", "--limit", "1", "--json").stdout.count('"actor": "sam"') == 1
            outsider = {**remote, "BATON_TOKEN": world.tokens["mia"]}
            refused = baton(outsider, "rollback", "toy", "--why", "x")
            assert refused.returncode == 1 and "only team serving" in refused.stderr
            moved = baton(outsider, "alias", "set", "toy@shadow", "1", "--why", "mine")
            assert moved.returncode == 1 and "may move @shadow" in moved.stderr
            bad = baton({**remote, "BATON_TOKEN": "bt_000000000000_nope"}, "models")
            assert bad.returncode == 1 and "the token is not valid" in bad.stderr
            no_token = {k: v for k, v in remote.items() if k != "BATON_TOKEN"}
            missing = baton(no_token, "models")
            assert missing.returncode == 2 and "BATON_TOKEN is not" in missing.stderr
            local_only = baton(remote, "register", str(write_handover(settings.home / "h")))
            assert local_only.returncode == 2 and "unset BATON_URL" in local_only.stderr
    finally:
        store.close()
    gone = baton({**env, "BATON_URL": "http://127.0.0.1:9", "BATON_TOKEN": "x"}, "models")
    assert gone.returncode == 2 and "cannot reach the control plane" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_baton_api_serves_the_control_plane(env: dict[str, str], world: World) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "baton.cli.main", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {world.tokens['sam']}"}
        assert httpx.get(f"{url}/v1/whoami", headers=headers).json()["name"] == "sam"
        assert httpx.get(f"{url}/v1/whoami").status_code == 401
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert world.tokens["sam"] not in out + err  # never logged
    for host in ("256.0.0.1", "no-such-host.invalid"):
        bad = baton(env, "api", "--port", str(port), "--host", host)
        assert bad.returncode == 2 and f"cannot listen on {host}" in bad.stderr


def test_baton_api_refuses_a_taken_port(env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = baton(env, "api", "--port", str(port))
    assert taken.returncode == 2, taken.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    assert "Traceback" not in taken.stderr


@pytest.mark.parametrize("columns", [120, 80])
def test_promotions_never_cut_the_key_columns(
    env: dict[str, str], world: World, tmp_path: Path, columns: int
) -> None:
    """Issue 14.12: #, version, step and state stay whole; why and approved by fold."""
    name = "digits-classifier-large"
    folder = write_handover(tmp_path / "long", name=name, owner="research", seed=7)
    register_handover(world.store, folder, actor="alice")
    world.evaluate(1, model=name)
    steps, p = world.gov.promotions, world.people
    why = "passed the gate with parity inside tolerance and p99 well under the SLO " * 2
    steps.promote(name, 1, Target.STAGING, p["alice"], why)
    steps.approve(name, 1, Target.STAGING, p["bob"], "numbers match the claims")
    steps.promote(name, 1, Target.PRODUCTION, p["sam"], why)
    shown = baton({**env, "COLUMNS": str(columns)}, "promotions")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    rows = [line for line in lines if f"{name}:1" in line]
    assert len(rows) == 2  # one line each starts a row, with every key cell whole
    assert "→ production" in rows[0] and "pending" in rows[0]
    assert "→ staging" in rows[1] and "applied" in rows[1]
    if columns >= 120:  # a table whose why column folds
        text = "".join(line.split("│")[-2] for line in lines if line.count("│") > 2)
    else:  # too narrow for eight columns: one block per step, as gh and kubectl do
        assert "│" not in shown.stdout
        text = shown.stdout
    assert why.replace(" ", "") in text.replace(" ", "").replace("\n", "")  # never cut


def test_team_user_and_token_changes_print_json(env: dict[str, str], world: World) -> None:
    """Issue 14.12: team add, user join / leave and token revoke take --json too."""
    root = {**env, "BATON_USER": "root"}

    def json_of(*args: str) -> Any:
        done = baton(root, *args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert json_of("team", "add", "platform", "--why", "new")["name"] == "platform"
    assert json_of("user", "join", "mia", "--team", "platform")["teams"] == [
        "marketing",
        "platform",
    ]
    assert json_of("user", "leave", "mia", "--team", "marketing")["teams"] == ["platform"]
    (token,) = [t for t in json_of("token", "list", "--user", "mia")]
    revoked = json_of("token", "revoke", token["public_id"], "--why", "left")
    assert revoked["public_id"] == token["public_id"] and revoked["revoked_at"] is not None


def test_baton_api_json_says_where_once_it_answers(env: dict[str, str]) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "baton.cli.main", "api", "--port", str(port), "--json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        said = json.loads(proc.stdout.readline())
        # said once true: it answers at once, no retry
        assert httpx.get(f"{said['url']}/v1/health").status_code == 200
    finally:
        proc.terminate()
        proc.wait(30)
    assert said["url"] == f"http://127.0.0.1:{port}"
    assert said["openapi"] == f"{said['url']}/openapi.json"
