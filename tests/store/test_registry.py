from __future__ import annotations

from pathlib import Path

import pytest

from baton.core.refs import Ref
from baton.errors import Conflict, NotFound
from baton.handover.register import register_handover
from baton.store.store import Store
from tests.handover_factory import write_handover


def register(store: Store, folder: Path, why: str | None = None) -> tuple[int, bool]:
    result = register_handover(store, folder, actor="tester", reason=why)
    return result.version.number, result.created


def test_versions_are_numbered_per_model(store: Store, tmp_path: Path) -> None:
    assert register(store, write_handover(tmp_path / "a", seed=1)) == (1, True)
    assert register(store, write_handover(tmp_path / "b", seed=2)) == (2, True)
    assert register(store, write_handover(tmp_path / "c", name="other", seed=3)) == (1, True)
    names = {m.name: m for m in store.registry.models()}
    assert names["toy"].versions == 2 and names["toy"].latest == 2
    assert names["toy"].aliases == {"candidate": 2}
    assert names["other"].owner == "research"


def test_same_bytes_twice_is_reported_not_duplicated(store: Store, tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "a", seed=1)
    register(store, folder)
    before = len(store.registry.log_entries())
    assert register(store, folder) == (1, False)
    _, versions = store.registry.model("toy")
    assert len(versions) == 1
    assert len(store.registry.log_entries()) == before


def test_version_records_manifest_files_and_lineage(store: Store, tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "a", seed=1, lineage={"git_commit": "abc123"}, version="v7")
    register(store, folder, why="first hand-over")
    v = store.registry.resolve(Ref("toy", version=1))
    assert v.label == "v7"
    assert v.manifest.lineage == {"git_commit": "abc123"}
    assert {f.role for f in v.files} == {"model", "manifest", "eval_data"}
    assert v.file("model").sha256 == v.sha256
    assert store.artifacts.read_bytes(v.sha256) == (folder / "model.onnx").read_bytes()
    entry = next(e for e in store.registry.log_entries() if e.action == "version.register")
    assert (entry.actor, entry.model, entry.version, entry.reason) == (
        "tester",
        "toy",
        1,
        "first hand-over",
    )


def test_owner_cannot_change_through_a_hand_over(store: Store, tmp_path: Path) -> None:
    register(store, write_handover(tmp_path / "a", seed=1))
    with pytest.raises(Conflict, match="owned by team 'research'.*set owner: research"):
        register(store, write_handover(tmp_path / "b", seed=2, owner="someone-else"))
    _, versions = store.registry.model("toy")
    assert len(versions) == 1
    assert "someone-else" not in {e.detail.get("team") for e in store.registry.log_entries()}


def test_aliases_move_and_are_audited(store: Store, tmp_path: Path) -> None:
    register(store, write_handover(tmp_path / "a", seed=1))
    register(store, write_handover(tmp_path / "b", seed=2))
    assert store.registry.set_alias("toy", "production", 1, "ops", "first release") is None
    assert store.registry.set_alias("toy", "production", 2, "ops", "better") == 1
    assert store.registry.resolve(Ref("toy", alias="production")).number == 2
    moves = [e for e in store.registry.log_entries("toy") if e.detail.get("alias") == "production"]
    assert [(e.version, e.detail["previous"], e.reason) for e in moves] == [
        (2, 1, "better"),
        (1, None, "first release"),
    ]


def test_bare_name_means_production_else_latest(store: Store, tmp_path: Path) -> None:
    register(store, write_handover(tmp_path / "a", seed=1))
    register(store, write_handover(tmp_path / "b", seed=2))
    assert store.registry.resolve(Ref("toy")).number == 2
    store.registry.set_alias("toy", "production", 1, "ops")
    assert store.registry.resolve(Ref("toy")).number == 1


def test_unknown_things_are_not_found_with_a_hint(store: Store, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no model is registered yet"):
        store.registry.resolve(Ref("toy"))
    register(store, write_handover(tmp_path / "a", seed=1))
    with pytest.raises(NotFound, match="known models: toy"):
        store.registry.resolve(Ref("nope"))
    with pytest.raises(NotFound, match="toy has no version 9"):
        store.registry.resolve(Ref("toy", version=9))
    with pytest.raises(NotFound, match=r"no alias @production \(it has: @candidate\)"):
        store.registry.resolve(Ref("toy", alias="production"))
    with pytest.raises(NotFound, match="toy has no version 5"):
        store.registry.set_alias("toy", "production", 5, "ops")
    assert not [e for e in store.registry.log_entries() if e.detail.get("alias") == "production"]


def test_audit_is_newest_first_and_filters_by_model(store: Store, tmp_path: Path) -> None:
    register(store, write_handover(tmp_path / "a", seed=1))
    register(store, write_handover(tmp_path / "b", name="other", seed=2))
    entries = store.registry.log_entries()
    assert [e.id for e in entries] == sorted((e.id for e in entries), reverse=True)
    assert {e.model for e in store.registry.log_entries("other")} == {"other"}
    assert len(store.registry.log_entries(limit=2)) == 2
