"""gc removes what no record names, never a referenced file, never one a registration is
still storing; on SQLite and PostgreSQL (the ``store`` fixture runs both)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from baton.core.evaluation import EvaluationReport
from baton.core.serving_config import ServingConfig
from baton.handover.register import register_handover
from baton.store.gc import collect, find_leftovers
from baton.store.store import Store
from baton.store.tx import utcnow
from tests.handover_factory import write_handover

HOUR = 3600.0


def age(store: Store, sha: str, seconds: float) -> None:
    """Make a stored file look ``seconds`` old (as a kill long ago would have left it)."""
    then = time.time() - seconds
    os.utime(store.artifacts.path_for(sha), (then, then))


def orphan(store: Store, tmp_path: Path, data: bytes, *, old: bool = True) -> str:
    src = tmp_path / f"orphan-{len(data)}"
    src.write_bytes(data)
    sha = store.artifacts.put_file(src).sha256
    if old:
        age(store, sha, 2 * HOUR)
    return sha


def test_referenced_covers_version_files_and_the_int8_copy_an_evaluation_keeps(
    store: Store, tmp_path: Path
) -> None:
    version = register_handover(store, write_handover(tmp_path / "h"), actor="t").version
    int8 = orphan(store, tmp_path, b"int8 weights")
    in_report = orphan(store, tmp_path, b"a copy only the report names")
    store.evaluations.record(
        "toy",
        1,
        status="passed",
        report=EvaluationReport.model_validate({"recommended": {"model_sha256": in_report}}),
        actor="ci",
        started_at=utcnow(),
        recommended=ServingConfig(precision="int8", model_sha256=int8),
    )
    store.evaluations.record(  # an evaluation without a recommendation names nothing
        "toy",
        1,
        status="error",
        report=EvaluationReport(),
        actor="ci",
        started_at=utcnow(),
        error="x",
    )
    referenced = store.registry.referenced_digests()
    assert referenced == {f.sha256 for f in version.files} | {int8, in_report}
    for f in version.files:
        age(store, f.sha256, 2 * HOUR)
    result = collect(store, grace_s=HOUR, actor="ops")
    assert result.removed_orphans == []
    assert sorted(store.artifacts.all_digests()) == sorted(referenced)


def test_gc_removes_old_orphans_and_stale_tmp_keeps_young_ones_and_audits(
    store: Store, tmp_path: Path
) -> None:
    old = orphan(store, tmp_path, b"left by a kill long ago")
    young = orphan(store, tmp_path, b"a registration on another host is storing this", old=False)
    store.artifacts.tmp_dir.mkdir(parents=True, exist_ok=True)
    stale = store.artifacts.tmp_dir / "tmpkilled"
    stale.write_bytes(b"x" * 1000)
    os.utime(stale, (time.time() - 2 * HOUR,) * 2)
    (store.artifacts.tmp_dir / "tmpwriting").write_bytes(b"y")
    found = find_leftovers(store, HOUR)
    assert [e.name for e in found.orphans] == [old]
    assert [e.name for e in found.temporary] == ["tmpkilled"]
    assert found.young == 2

    dry = collect(store, grace_s=HOUR, actor="ops", dry_run=True)
    assert dry.removed_orphans == [] and stale.exists() and old in store.artifacts.all_digests()
    assert store.registry.log_entries() == []

    done = collect(store, grace_s=HOUR, actor="ops")
    assert done.removed_orphans == [old] and done.removed_temporary == ["tmpkilled"]
    assert done.freed_bytes == len(b"left by a kill long ago") + 1000
    assert store.artifacts.all_digests() == [young]
    assert [e.name for e in store.artifacts.temporary()] == ["tmpwriting"]
    (entry,) = store.registry.log_entries()
    assert (entry.actor, entry.action) == ("ops", "artifacts.gc")
    assert entry.detail["digests"] == [old] and entry.detail["bytes"] == done.freed_bytes
    assert collect(store, grace_s=HOUR, actor="ops").removed_orphans == []
    assert len(store.registry.log_entries()) == 1, "a gc that removes nothing writes no entry"


def test_an_old_orphan_re_stored_by_a_registration_is_kept(store: Store, tmp_path: Path) -> None:
    """The race: gc has listed an old orphan; a registration stores the same bytes (and has
    not committed yet). The put gives the file a fresh mtime, so gc keeps it."""
    folder = write_handover(tmp_path / "h")
    sha = orphan(store, tmp_path, (folder / "model.onnx").read_bytes())
    found = find_leftovers(store, HOUR)
    assert [e.name for e in found.orphans] == [sha]
    store.artifacts.put_file(folder / "model.onnx")  # the registration's put, uncommitted
    assert collect(store, grace_s=HOUR, actor="ops").removed_orphans == []
    assert sha in store.artifacts.all_digests()
    version = register_handover(store, folder, actor="t").version
    store.artifacts.verified_path(version.sha256)


def test_a_put_racing_the_removal_keeps_the_file(store: Store, tmp_path: Path) -> None:
    """Interleave a put with ``discard`` at its two decision points, as another process would."""
    src = tmp_path / "m"
    src.write_bytes(b"weights another registration is storing")
    for racing_call in (1, 2):  # between look and move; after the move, before the unlink
        sha = orphan(store, tmp_path, src.read_bytes())
        calls = 0

        def old_unless_racing(st: os.stat_result, racing_call: int = racing_call) -> bool:
            nonlocal calls
            calls += 1
            if calls == racing_call:
                store.artifacts.put_file(src)
            return False  # judged old, as gc's first look found it

        removed = store.artifacts.discard(sha, old_unless_racing)
        assert removed == (racing_call == 2)  # the old copy went; the racing put's copy stays
        assert store.artifacts.read_bytes(sha) == src.read_bytes()
        assert not any(n.name.startswith("gc-") for n in store.artifacts.temporary())


def test_a_discard_killed_midway_is_put_back_when_referenced(store: Store, tmp_path: Path) -> None:
    version = register_handover(store, write_handover(tmp_path / "h"), actor="t").version
    gone = orphan(store, tmp_path, b"nobody names this")
    for sha in (version.sha256, gone):  # what a gc killed between its move and its look leaves
        moved_at = time.time_ns() - int(2 * HOUR * 1e9)
        os.rename(store.artifacts.path_for(sha), store.artifacts.tmp_dir / f"gc-{sha}-{moved_at}")
    assert len(find_leftovers(store, HOUR).temporary) == 2
    collect(store, grace_s=HOUR, actor="ops")
    assert set(store.artifacts.all_digests()) == {f.sha256 for f in version.files}
    store.artifacts.verified_path(version.sha256)
    assert store.artifacts.temporary() == []
