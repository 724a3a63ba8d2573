"""``baton router`` and ``baton servers`` as real processes: bad input is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.baton_cli import baton, clean_env, free_port


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path / "home", BATON_USER="cli-tester")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--weights", "stable=90,canary=5"], "weights must add up to 100"),
        (["--weights", "stable=90,canary=10"], "canary has weight above 0 but no server"),
        (["--canary", "https://x:1"], "must be given as http://HOST:PORT"),
        (["--sticky-header", "a b"], "not an HTTP header name"),
        (["--admin-token-file", "/nonexistent/token"], "cannot read the admin token file"),
    ],
)
def test_bad_router_options_are_one_line_and_exit_2(
    env: dict[str, str], args: list[str], message: str
) -> None:
    run = baton(env, "router", "m", "--stable", "http://127.0.0.1:1", "--port", str(free_port()),
                *args)  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert message in run.stderr
    assert "Traceback" not in run.stderr


def test_a_short_or_empty_token_file_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    token = tmp_path / "token"
    for text, message in (("", "is empty"), ("short\n", "at least 16 characters")):
        token.write_text(text)
        run = baton(env, "router", "m", "--stable", "http://127.0.0.1:1",
                    "--admin-token-file", str(token))  # fmt: skip
        assert run.returncode == 2 and message in run.stderr


def test_servers_lists_nothing_before_anything_ran(env: dict[str, str]) -> None:
    run = baton(env, "servers")
    assert run.returncode == 0 and "no servers" in run.stdout
    listed = baton(env, "servers", "--all", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
