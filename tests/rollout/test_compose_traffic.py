"""``--target compose``'s options and bad input, without a router: each mistake is one line
naming the flag and the fix, refused before a rollout is recorded. The live loop is in
``test_compose_canary.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from baton.config import Settings
from baton.errors import BadInput, NotFound
from baton.rollout.compose_traffic import ComposeOptions, ComposeTraffic, options_path
from tests.baton_cli import baton, clean_env, free_port

APPLY = "docker compose -f compose.yaml up -d baseline canary"


def settings(tmp_path: Path, token: str | None = None) -> Settings:
    return Settings(home=tmp_path / "home", router_admin_token=None if token is None
                    else SecretStr(token))  # fmt: skip


def test_the_options_travel_beside_the_rollout_for_a_restarted_controller(
    tmp_path: Path,
) -> None:
    options = ComposeOptions(
        router_url="http://127.0.0.1:8080", apply=APPLY, retire="docker compose stop",
        upstreams={"stable": "http://baton:8080", "baseline": "http://baseline:8080",
                   "canary": "http://canary:8080"},
    )  # fmt: skip
    path = options_path(settings(tmp_path), 7)
    assert path.name == "rollout-7-compose.json"
    options.save(path)
    assert ComposeOptions.load(path) == options
    path.write_text("{not json")
    with pytest.raises(BadInput, match="cannot read the Compose options"):
        ComposeOptions.load(path)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"router_url": "127.0.0.1:8080"}, "--router-url 127.0.0.1:8080: give the router"),
        ({"apply": "  "}, "the command is empty"),
        ({"retire": ""}, "the command is empty"),
    ],
)
def test_bad_options_are_refused(fields: dict[str, str], message: str) -> None:
    given: dict[str, Any] = {"router_url": "http://127.0.0.1:8080", "apply": APPLY, **fields}
    with pytest.raises(BadInput, match=message):
        ComposeOptions(**given)


def test_the_token_comes_from_its_file_else_the_setting(tmp_path: Path) -> None:
    file = tmp_path / "router.token"
    file.write_text("from-the-file\n")
    with_file = ComposeOptions(router_url="http://r:1", apply=APPLY, token_file=str(file))
    assert with_file.token(settings(tmp_path, "from-the-setting")) == "from-the-file"
    plain = ComposeOptions(router_url="http://r:1", apply=APPLY)
    assert plain.token(settings(tmp_path, "from-the-setting")) == "from-the-setting"
    with pytest.raises(BadInput, match="give --admin-token-file"):
        plain.token(settings(tmp_path))
    file.write_text("\n")
    with pytest.raises(BadInput, match="is empty"):
        with_file.token(settings(tmp_path))


def test_traffic_needs_the_router_table_read_at_the_start(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no router table"):
        ComposeTraffic(settings(tmp_path), ComposeOptions("http://r:1", APPLY), "controller")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "compose", "--apply", APPLY], "--target compose takes --router-url URL"),
        (["--target", "compose", "--router-url", "http://127.0.0.1:1"],
         "--target compose takes --router-url URL"),
        (["--retire", "docker compose stop"], "go with --target compose"),
        (["--target", "swarm"], "use local, kserve or compose"),
    ],
)  # fmt: skip
def test_the_cli_names_what_is_missing(tmp_path: Path, args: list[str], message: str) -> None:
    r = baton(clean_env(tmp_path / "home"), "canary", "start", "toy", "--to", "2", *args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert message in " ".join((r.stdout + r.stderr).split())


def test_an_unreachable_router_records_nothing(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", BATON_ROUTER_ADMIN_TOKEN="t" * 32)
    url = f"http://127.0.0.1:{free_port()}"
    r = baton(env, "canary", "start", "toy", "--to", "2", "--target", "compose",
              "--router-url", url, "--apply", APPLY)  # fmt: skip
    assert r.returncode != 0
    assert f"cannot reach the router at {url}" in " ".join((r.stdout + r.stderr).split())
    assert not (tmp_path / "home" / "rollouts").exists()
