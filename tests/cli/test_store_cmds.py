"""``baton verify`` and ``baton gc`` as a user runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from baton.store.artifacts import ArtifactStore
from tests.baton_cli import baton, clean_env
from tests.handover_factory import write_handover

DAY = 86400


@pytest.fixture
def env(settings: object, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        tmp_path / "home",
        BATON_DB_URL=settings.database_url,  # type: ignore[attr-defined]
        BATON_USER="ops",
    )


def leave_orphan(env: dict[str, str], tmp_path: Path, age_s: float) -> str:
    """A stored file no record names, as a kill ``age_s`` ago would have left it."""
    store = ArtifactStore(Path(env["BATON_HOME"]) / "artifacts")
    src = tmp_path / f"orphan-{age_s}"
    src.write_bytes(b"weights of a registration killed before it committed %f" % age_s)
    sha = store.put_file(src).sha256
    then = time.time() - age_s
    os.utime(store.path_for(sha), (then, then))
    return sha


def test_verify_reports_and_gc_removes_what_no_record_names(
    env: dict[str, str], tmp_path: Path
) -> None:
    assert baton(env, "register", str(write_handover(tmp_path / "h"))).returncode == 0
    old = leave_orphan(env, tmp_path, 2 * DAY)
    young = leave_orphan(env, tmp_path, 60)

    verify = baton(env, "verify")
    assert verify.returncode == 0, verify.stderr  # leftovers waste space; nothing is broken
    assert "1 file(s) no record names" in verify.stdout and "`baton gc`" in verify.stdout
    report = json.loads(baton(env, "verify", "--json").stdout)
    assert [o["sha256"] for o in report["orphans"]] == [old] and report["young"] == 1

    dry = baton(env, "gc", "--dry-run")
    assert dry.returncode == 0 and f"would remove {old}" in dry.stdout
    assert json.loads(baton(env, "verify", "--json").stdout)["orphans"], "dry run removed"

    done = json.loads(baton(env, "gc", "--json").stdout)
    assert done["removed_orphans"] == [old] and done["young"] == 1
    after = json.loads(baton(env, "verify", "--json").stdout)
    assert (after["problems"], after["orphans"], after["checked"]) == ([], [], 3)
    store = ArtifactStore(Path(env["BATON_HOME"]) / "artifacts")
    assert young in store.all_digests() and old not in store.all_digests()

    entry = json.loads(baton(env, "log", "--json").stdout)[0]
    assert (entry["actor"], entry["action"]) == ("ops", "artifacts.gc")
    assert entry["detail"]["digests"] == [old]

    now = json.loads(baton(env, "gc", "--grace", "30s", "--json").stdout)
    assert now["removed_orphans"] == [young]


@pytest.mark.parametrize(
    ("extra", "args", "message"),
    [
        ({}, ["gc", "--grace", "soon"], "--grace: 'soon' is not a duration"),
        ({"BATON_GC_GRACE": "-1h"}, ["gc"], "settings from BATON_* variables"),
    ],
)
def test_a_bad_grace_period_is_one_line_and_exit_2(
    env: dict[str, str], extra: dict[str, str], args: list[str], message: str
) -> None:
    result = baton({**env, **extra}, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
