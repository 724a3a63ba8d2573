"""``baton audit show`` over a store holding runs: the latest, one by id, by verdict, the
list, JSON; an unknown id is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from baton.config import Settings
from baton.store.audits import Audits
from baton.store.store import open_store
from testkit.audit_runs import audit_run
from tests.baton_cli import baton, clean_env


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A store with two runs: 3 deployments, then 12."""
    home = tmp_path / "home"
    store = open_store(Settings(home=home))
    try:
        audits = Audits(store.engine)
        audits.save(audit_run(3), actor="ci")
        audits.save(audit_run(12), actor="ops")
    finally:
        store.close()
    return clean_env(home)


def test_the_latest_run_by_default_most_savings_first(env: dict[str, str]) -> None:
    done = baton(env, "audit", "show", "--top", "4")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Audit run 2 by ops at ")
    assert "12 deployment(s), window 2026-11-26 12:00 UTC .. 2026-12-10 12:00 UTC" in out
    assert "(example prices)" in out and "note: window longer than the data" in out
    assert "4 of 12 shown, most savings first: --top for more" in out
    # idle ones save their whole cost: dep-0009 (109) then dep-0003 (103)
    assert out.index("dep-0009") < out.index("dep-0003")


def test_one_run_by_id_and_verdict_as_json(env: dict[str, str]) -> None:
    done = baton(env, "audit", "show", "1", "--json")
    stored = json.loads(done.stdout)
    assert stored["run"]["id"] == 1 and stored["run"]["deployments"] == 3
    assert [d["name"] for d in stored["deployments"]] == ["dep-0002", "dep-0001", "dep-0000"]
    assert [d["savings"] for d in stored["deployments"]] == [51.0, -50.5, -100.0]
    idle = json.loads(baton(env, "audit", "show", "--verdict", "idle", "--json").stdout)
    assert [d["name"] for d in idle["deployments"]] == ["dep-0009", "dep-0003"]


def test_the_list_of_runs(env: dict[str, str]) -> None:
    done = baton(env, "audit", "show", "--list", "--json")
    assert [r["id"] for r in json.loads(done.stdout)] == [2, 1]
    table = baton(env, "audit", "show", "--list")
    assert table.returncode == 0 and "ops" in table.stdout and "ci" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["9"], "error: no audit run 9: `baton audit show --list` lists the stored ones"),
        (["--verdict", "fine"], "error: verdict 'fine': choose one of at risk, "),
    ],
)
def test_bad_input_is_one_line(env: dict[str, str], args: list[str], message: str) -> None:
    done = baton(env, "audit", "show", *args)
    assert done.returncode == 2
    assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1
