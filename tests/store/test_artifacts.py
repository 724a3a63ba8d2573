from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.errors import Corrupt, NotFound, Unavailable
from baton.store.artifacts import (
    ArtifactStore,
    Stored,
    file_sha256,
    identity,
    replaced_since,
)


@given(st.binary(max_size=70_000))
@settings(max_examples=40, deadline=None)
def test_round_trip_keeps_every_byte(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    root = tmp_path_factory.mktemp("a")
    src = root / "src.bin"
    src.write_bytes(data)
    store = ArtifactStore(root / "store")
    stored = store.put_file(src)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.size == len(data)
    assert store.read_bytes(stored.sha256) == data


def test_same_bytes_are_stored_once(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"weights" * 1000)
    b.write_bytes(b"weights" * 1000)
    first, second = store.put_file(a), store.put_file(b)
    assert first.created and not second.created
    assert store.all_digests() == [first.sha256]
    assert not any((tmp_path / "store" / ".tmp").iterdir()), "temporary files left behind"


def test_progress_counts_every_byte(tmp_path: Path) -> None:
    src = tmp_path / "big"
    src.write_bytes(os.urandom(3 << 20))
    seen: list[int] = []
    ArtifactStore(tmp_path / "store").put_file(src, seen.append)
    assert sum(seen) == 3 << 20
    assert file_sha256(src) == hashlib.sha256(src.read_bytes()).hexdigest()


def test_stored_files_are_read_only(tmp_path: Path) -> None:
    src = tmp_path / "m"
    src.write_bytes(b"x")
    store = ArtifactStore(tmp_path / "store")
    path = store.path_for(store.put_file(src).sha256)
    assert path.stat().st_mode & 0o222 == 0


def test_a_corrupted_file_is_reported_never_served(tmp_path: Path) -> None:
    src = tmp_path / "m"
    src.write_bytes(b"good weights")
    store = ArtifactStore(tmp_path / "store")
    sha = store.put_file(src).sha256
    path = store.path_for(sha)
    path.chmod(0o644)
    path.write_bytes(b"bad weights!")
    with pytest.raises(Corrupt, match=f"artifact {sha[:12]} is corrupted"):
        store.verified_path(sha)
    with pytest.raises(Corrupt):
        store.read_bytes(sha)


def test_a_corrupted_copy_is_replaced_by_a_good_one(tmp_path: Path) -> None:
    src = tmp_path / "m"
    src.write_bytes(b"good weights")
    store = ArtifactStore(tmp_path / "store")
    sha = store.put_file(src).sha256
    path = store.path_for(sha)
    path.chmod(0o644)
    path.write_bytes(b"rotten")
    store.put_file(src)  # a copy was there (not created), but the good bytes replace it
    assert store.read_bytes(sha) == b"good weights"


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="missing"):
        ArtifactStore(tmp_path).verified_path("0" * 64)


def test_names_must_be_digests(tmp_path: Path) -> None:
    with pytest.raises(Corrupt, match="not a sha256"):
        ArtifactStore(tmp_path).path_for("../../etc/passwd")


def test_unwritable_root_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    src = tmp_path / "m"
    src.write_bytes(b"x")
    with pytest.raises(Unavailable, match="cannot write to the artifact folder"):
        ArtifactStore(blocker / "store").put_file(src)


@pytest.mark.parametrize(
    ("folder_mode", "source_mode", "expected"),
    [
        (0o755, 0o644, 0o444),  # an open store, an open source: readable by all
        (0o700, 0o644, 0o400),  # a private store keeps its files private
        (0o750, 0o644, 0o440),  # a team store: the team reads
        (0o755, 0o640, 0o440),  # never wider than the source (/etc/shadow is 0640)
        (0o755, 0o600, 0o400),
        (0o755, 0o000, 0o400),  # readable by whoever could read it to store it
    ],
)
def test_stored_files_take_the_store_folders_permissions_never_wider_than_the_source(
    tmp_path: Path, folder_mode: int, source_mode: int, expected: int
) -> None:
    root = tmp_path / "store"
    root.mkdir(mode=folder_mode)
    root.chmod(folder_mode)
    src = tmp_path / "secret"
    src.write_bytes(b"root:$6$hash:19000:0:99999:7:::")
    src.chmod(source_mode)
    store = ArtifactStore(root)
    path = store.path_for(store.put_file(src).sha256)
    assert stat.S_IMODE(path.stat().st_mode) == expected
    for folder in (path.parent, store.tmp_dir):  # folders it makes are no wider than the store
        assert stat.S_IMODE(folder.stat().st_mode) & ~folder_mode == 0


def test_storing_the_same_bytes_again_places_a_fresh_copy(tmp_path: Path) -> None:
    """A re-put must show as a new copy, so gc and a failed registration's cleanup see that
    someone wants the file now (see store/gc.py)."""
    src = tmp_path / "m"
    src.write_bytes(b"weights")
    store = ArtifactStore(tmp_path / "store")
    first = store.put_file(src)
    second = store.put_file(src)
    assert first.created and not second.created
    assert first.identity != second.identity
    assert identity(store.path_for(first.sha256).stat()) == second.identity


@pytest.mark.parametrize("there_before", [False, True])
def test_a_put_cut_short_at_its_final_name_is_known_to_the_cleanup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, there_before: bool
) -> None:
    """SIGTERM (or Ctrl-C) right as the copy takes its final name: the caller's list holds
    it already, so the cleanup removes a copy it created and keeps one it replaced (another
    put of these bytes may be about to record them). The link is real; only the signal's
    moment is forced."""
    store = ArtifactStore(tmp_path / "store")
    src = tmp_path / "src"
    src.write_bytes(b"weights" * 1000)
    if there_before:
        store.put_file(src)
    real_link, real_replace = os.link, os.replace

    def then_interrupted(real: Any) -> Any:
        def call(a: Any, b: Any) -> None:
            real(a, b)
            raise KeyboardInterrupt

        return call

    monkeypatch.setattr(os, "link", then_interrupted(real_link))
    monkeypatch.setattr(os, "replace", then_interrupted(real_replace))
    into: list[Stored] = []
    with pytest.raises(KeyboardInterrupt):
        store.put_file(src, into=into)
    monkeypatch.undo()
    (placed,) = into
    assert placed.created is not there_before
    removed = placed.created and store.discard(placed.sha256, replaced_since(placed))
    assert removed is not there_before
    assert (store.all_digests() == [placed.sha256]) is there_before
