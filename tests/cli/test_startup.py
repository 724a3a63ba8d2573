"""Start-up imports only what the command needs.

``baton --version``, ``--help`` and shell completion (which runs the CLI on every Tab) must
not pay for ONNX, numpy, SQLAlchemy and the rest; ``baton models`` pays for the store and
nothing else. These tests check the import graph (``python -X importtime``), not time:
the timings live in bench/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# never at start-up: each costs tens to hundreds of milliseconds, and no listed path needs it
HEAVY = {
    "onnx",
    "onnxruntime",
    "numpy",
    "sklearn",
    "scipy",
    "plotly",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "jinja2",
    "pyarrow",
    "prometheus_client",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "pydantic_settings",
    "yaml",
}
# nor pydantic: printing does not need it until a model is printed (25 ms of every start-up);
# a Tab may import it (typer's own parameter adapters do)
BARE = HEAVY | {"pydantic"}
# `baton models` reads the store (SQLAlchemy's core and its SQLite dialect), nothing else:
# the settings are a plain pydantic model and do not read YAML; of the store, the registry
# alone (the other services, and the API client's records, load when a command calls them)
STORE_ONLY = (HEAVY - {"sqlalchemy"}) | {
    "sqlalchemy.dialects.postgresql",
    "baton.client",
    "baton.store.governance",
    "baton.store.approvals",
    "baton.store.people",
    "baton.store.requests",
    "baton.store.history",
    "baton.store.evaluations",
    "baton.store.servers",
    "baton.core.evaluation",
}


def imported(args: list[str], env: dict[str, str] | None = None) -> tuple[set[str], str]:
    """Every module a fresh interpreter imports for ``args``, and what it printed (the
    store is this machine's default one unless ``env`` says otherwise)."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("BATON_DB_URL", "BATON_URL")}
    run = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        env=inherited | (env or {}),
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "self [us]" not in line
    }
    return names, run.stdout


def heavy_in(names: set[str], forbidden: set[str]) -> set[str]:
    """The forbidden packages (or sub-packages) among ``names``."""
    return {f for f in forbidden for n in names if n == f or n.startswith(f + ".")}


@pytest.mark.parametrize("statement", ["import baton.cli.main", "import baton"])
def test_importing_the_cli_or_the_package_imports_nothing_heavy(statement: str) -> None:
    names, _ = imported(["-c", statement])
    assert heavy_in(names, BARE) == set()


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_nothing_heavy(flag: str) -> None:
    names, out = imported(["-m", "baton.cli.main", flag])
    assert "baton" in out
    assert heavy_in(names, BARE) == set()


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [("baton mo", 1, {"models", "monitor"}), ("baton alias ", 2, {"set", "list"})],
)
def test_completing_a_command_imports_nothing_heavy(
    words: str, cword: int, expected: set[str]
) -> None:
    env = {"_BATON_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    names, out = imported(["-m", "baton.cli.main"], env)
    assert set(out.split()) == expected
    assert heavy_in(names, HEAVY) == set()


def test_completion_script_is_offered() -> None:
    _, out = imported(["-m", "baton.cli.main", "--show-completion", "bash"])
    assert "_BATON_COMPLETE=complete_bash" in out and "complete " in out


def test_listing_models_imports_the_store_and_nothing_else_heavy(tmp_path: Path) -> None:
    env = {"BATON_HOME": str(tmp_path / "home"), "BATON_USER": "tester"}
    imported(["-m", "baton.cli.main", "init"], env)
    names, out = imported(["-m", "baton.cli.main", "models"], env)
    assert "no models yet" in out
    assert "sqlalchemy" in names  # the check sees what it forbids elsewhere
    assert heavy_in(names, STORE_ONLY) == set()
