"""Registering model bytes that are already a version: the same hand-over gives that version
back, a changed one is refused; either way nothing new is stored (nothing orphaned)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from baton.core.manifest import parse_manifest
from baton.core.refs import parse_ref
from baton.errors import Conflict
from baton.handover.register import register_handover
from baton.store.registry import FileRecord
from baton.store.store import Store
from tests.handover_factory import write_handover


def edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / "baton.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


@pytest.fixture
def registered(store: Store, tmp_path: Path) -> Path:
    folder = write_handover(tmp_path / "h")
    register_handover(store, folder, actor="tester")
    return folder


def stored_state(store: Store) -> tuple[list[str], int, int]:
    return (
        store.artifacts.all_digests(),
        len(store.artifacts.temporary()),
        len(store.registry.log_entries()),
    )


def test_a_changed_manifest_is_refused_and_stores_nothing(store: Store, registered: Path) -> None:
    before = stored_state(store)
    edit_manifest(registered, lineage={"git_commit": "f00d"}, version="2026.1")
    with pytest.raises(Conflict, match=r"already toy:1, .*\(lineage, version changed\)") as info:
        register_handover(store, registered, actor="tester")
    assert "\n" not in info.value.message
    assert stored_state(store) == before


def test_changed_eval_data_is_refused_and_stores_nothing(store: Store, registered: Path) -> None:
    before = stored_state(store)
    rng = np.random.default_rng(7)
    np.savez(registered / "eval.npz", input=rng.normal(size=(8, 4)).astype(np.float32),
             label=rng.integers(0, 3, 8))  # fmt: skip
    with pytest.raises(Conflict, match=r"\(eval data changed\)"):
        register_handover(store, registered, actor="tester")
    assert stored_state(store) == before


def test_the_same_handover_with_new_comments_is_the_same_version(
    store: Store, registered: Path
) -> None:
    before = stored_state(store)
    manifest = registered / "baton.yaml"
    manifest.write_text("# reviewed by the serving team\n" + manifest.read_text())
    result = register_handover(store, registered, actor="tester")
    assert (result.version.number, result.created) == (1, False)
    assert stored_state(store) == before


def test_a_concurrent_registration_with_a_changed_manifest_is_refused_in_the_transaction(
    store: Store, registered: Path
) -> None:
    """The check at commit: another process registered these bytes between our look and now."""
    version = store.registry.resolve(parse_ref("toy:1"))
    changed = parse_manifest(
        {**version.manifest.to_json_dict(), "contacts": {"email": "new@example.com"}},
        source="baton.yaml",
    )
    files = [FileRecord(f.role, f.filename, f.sha256, f.size_bytes) for f in version.files]
    with pytest.raises(Conflict, match=r"\(contacts changed\)"):
        store.registry.register(changed, files, "tester")
    same = version.manifest
    assert not store.registry.register(same, files, "tester").created
