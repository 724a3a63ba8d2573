"""The real ``baton`` command in a subprocess: output, --json, and exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.baton_cli import baton, clean_env
from tests.handover_factory import write_handover


@pytest.fixture
def env(settings: object, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        tmp_path / "home",
        BATON_DB_URL=settings.database_url,  # type: ignore[attr-defined]
        BATON_USER="cli-tester",
    )


def test_register_show_alias_log(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "h", seed=1)
    first = baton(env, "register", str(folder), "--why", "initial hand-over")
    assert first.returncode == 0, first.stderr
    assert "registered toy:1" in first.stdout

    again = baton(env, "register", str(folder), "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["created"] is False

    models = json.loads(baton(env, "models", "--json").stdout)
    assert [(m["name"], m["versions"], m["aliases"]) for m in models] == [
        ("toy", 1, {"candidate": 1})
    ]

    assert baton(env, "alias", "set", "toy@production", "1", "--why", "go live").returncode == 0
    shown = json.loads(baton(env, "show", "toy@production", "--json").stdout)
    assert shown["number"] == 1 and "production" in shown["aliases"]
    overview = baton(env, "show", "toy").stdout
    assert "owner research" in overview and "@candidate, @production" in overview

    log = json.loads(baton(env, "log", "--json").stdout)
    assert log[0]["action"] == "alias.set" and log[0]["reason"] == "go live"
    assert log[0]["actor"] == "cli-tester"
    assert "initial hand-over" in baton(env, "log").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "nope"], "unknown model 'nope'"),
        (["show", "toy@production"], "no alias @production"),
        (["show", "Bad Name"], "is not valid"),
        (["alias", "set", "toy", "1"], "write NAME@ALIAS"),
        (["alias", "set", "toy@production", "7"], "toy has no version 7"),
        (["register", "/does/not/exist"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    baton(env, "register", str(write_handover(tmp_path / "h", seed=1)))
    result = baton(env, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # one line, no traceback


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "--bogus"], "No such option: --bogus (`baton models --help` lists"),
        (["modelz"], "No such command 'modelz'. Did you mean 'models'? (`baton --help` lists"),
        (["deploy", "up"], "Missing argument 'name'. (`baton deploy up --help` lists"),
        (["deploy", "restore", "--drain-timeout", "-5"], "Invalid value for '--drain-timeout'"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(
    env: dict[str, str], args: list[str], message: str
) -> None:
    """Typer would box these in five lines; every other bad input is one line already."""
    result = baton(env, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_a_command_group_alone_shows_its_help(env: dict[str, str]) -> None:
    result = baton(env, "deploy")
    assert result.returncode == 2  # as click exits there
    assert "Usage: baton deploy [OPTIONS] COMMAND" in result.stdout and "restore" in result.stdout


def test_broken_model_is_exit_2_and_leaves_nothing(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "h")
    (folder / "model.onnx").write_bytes(b"garbage")
    result = baton(env, "register", str(folder))
    assert result.returncode == 2
    assert "model.onnx" in result.stderr
    assert json.loads(baton(env, "models", "--json").stdout) == []
    assert json.loads(baton(env, "log", "--json").stdout) == []


def test_unreachable_database_is_exit_2(env: dict[str, str]) -> None:
    env = {**env, "BATON_DB_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = baton(env, "models")
    assert result.returncode == 2
    assert "cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


def test_verify_reports_a_corrupted_artifact_with_exit_1(
    env: dict[str, str], tmp_path: Path
) -> None:
    baton(env, "register", str(write_handover(tmp_path / "h", seed=1)))
    assert baton(env, "verify").returncode == 0
    artifacts = tmp_path / "home" / "artifacts"
    victim = next(p for p in artifacts.glob("??/*"))
    victim.chmod(0o644)
    victim.write_bytes(b"bit rot")
    result = baton(env, "verify", "--json")
    assert result.returncode == 1
    assert "is corrupted" in json.loads(result.stdout)["problems"][0]


def test_schema_manifest_is_json_schema(env: dict[str, str]) -> None:
    result = baton(env, "schema", "manifest")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "baton hand-over manifest"
    assert "signature" in schema["properties"]


def test_init_and_version(env: dict[str, str]) -> None:
    init = baton(env, "init", "--json")
    assert init.returncode == 0
    assert Path(json.loads(init.stdout)["artifacts"]).is_dir()
    assert baton(env, "--version").stdout.startswith("baton ")


def test_bad_settings_are_exit_2(env: dict[str, str]) -> None:
    result = baton({**env, "BATON_DB_URL": "mysql://x@127.0.0.1/db"}, "models")
    assert result.returncode == 2
    assert "'mysql' is not supported" in result.stderr


def test_error_lines_keep_square_brackets(tmp_path: Path) -> None:
    """Issue 14.12: the install hint for a .pt file lost its [torch] to Rich's markup."""
    folder = write_handover(tmp_path / "h", model="model.pt")
    (folder / "model.pt").write_bytes(b"PK")
    without_torch = (  # a machine without the torch extra: importing torch fails
        "import sys; sys.modules['torch'] = None; "
        "from baton.cli.main import run; sys.argv = ['baton', 'register', sys.argv[1]]; run()"
    )
    env = clean_env(tmp_path / "home")
    result = subprocess.run(
        [sys.executable, "-c", without_torch, str(folder)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "pip install 'modelbaton[torch]'" in result.stderr.replace("\n", "")


def test_every_command_takes_json() -> None:
    """The README says every command takes --json for scripts; hold each one to it."""
    import typer

    from baton.cli.main import app

    def leaves(command: Any, path: str) -> list[tuple[str, Any]]:
        if hasattr(command, "commands"):  # a group
            return [
                leaf
                for name, sub in sorted(command.commands.items())
                for leaf in leaves(sub, f"{path} {name}")
            ]
        return [(path, command)]

    found = leaves(typer.main.get_command(app), "baton")
    assert len(found) > 40
    missing = [
        path
        for path, command in found
        if not any("--json" in getattr(p, "opts", ()) for p in command.params)
    ]
    assert missing == []
