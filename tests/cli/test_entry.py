"""The ``baton`` script answers ``--version`` before the CLI is imported, and hands the
rest to ``baton.cli.main`` unchanged."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

from baton import __version__
from tests.cli.test_startup import heavy_in, imported

# what building the command tree costs; --version needs none of it
CLI = {"typer", "click", "rich", "baton.cli.main", "baton.cli.output", "pydantic"}


def test_the_installed_script_is_the_entry() -> None:
    (script,) = entry_points(group="console_scripts", name="baton")
    assert script.value == "baton.cli.entry:run"


def test_version_is_answered_without_importing_the_cli() -> None:
    names, out = imported(["-m", "baton.cli.entry", "--version"])
    assert out == f"baton {__version__}\n"
    assert heavy_in(names, CLI) == set()
    _, through_cli = imported(["-m", "baton.cli.main", "--version"])
    assert out == through_cli  # the same answer as the full CLI gives


def test_anything_else_goes_to_the_cli() -> None:
    names, out = imported(["-m", "baton.cli.entry", "--help"])
    assert "baton.cli.main" in names and "register" in out
    usage = subprocess.run(
        [sys.executable, "-m", "baton.cli.entry", "--version", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert usage.returncode == 2  # the CLI's one-line usage error, not the fast path
    assert "--no-such-option" in usage.stderr and len(usage.stderr.strip().splitlines()) == 1
