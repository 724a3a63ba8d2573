"""Content-addressed files: stored under their sha256, written atomically, verified on read.

Several processes (on several hosts, when the folder is shared) may store, and ``baton gc``
may remove, at the same time. Two rules keep a file that a record is about to name:

- every put places a fresh inode (a new copy, or identical bytes replacing the old copy),
  so its modification time says "wanted now" and its identity changes under anyone who
  thought the old copy was theirs to remove;
- a removal first moves the file into ``.tmp``, then looks again: if the copy it moved is
  not the one it judged, it puts it back (``discard``).

Unfinished work lives in ``.tmp`` only; ``baton gc`` clears what a killed process left there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from baton.errors import BadInput, Corrupt, NotFound, Unavailable

CHUNK = 1 << 20
TMP = ".tmp"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_QUARANTINE = re.compile(r"^gc-([0-9a-f]{64})-(\d+)$")  # a file being discarded, and since when

Progress = Callable[[int], None]  # called with the number of bytes just processed
Identity = tuple[int, int]  # (inode, mtime in ns): which copy of a file this is


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    created: bool  # False when identical bytes were already stored
    identity: Identity  # the copy this put placed; a later put of the same bytes changes it


@dataclass(frozen=True)
class Entry:
    """A file in the store (``name`` is its digest) or an entry of ``.tmp``."""

    name: str
    size: int
    mtime: float  # for a folder in .tmp: the newest change anywhere inside it


def identity(st: os.stat_result) -> Identity:
    return st.st_ino, st.st_mtime_ns


def replaced_since(placed: Stored) -> Callable[[os.stat_result], bool]:
    """For ``discard``: keep the file if it is no longer the copy ``placed`` put there."""
    return lambda st: identity(st) != placed.identity


class ArtifactStore:
    """Files named by their content; a file's bytes never change once written."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / TMP

    def path_for(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise Corrupt(f"{sha256!r} is not a sha256 digest")
        return self.root / sha256[:2] / sha256

    def put_file(
        self, source: Path, progress: Progress | None = None, *, into: list[Stored] | None = None
    ) -> Stored:
        """Copy ``source`` in, hashing as it streams.

        The copy is readable as widely as the store folder allows, never wider than the
        source. Identical bytes already stored are replaced by this copy (same bytes, fresh
        inode), which also repairs a corrupted copy. ``into`` gets the result before the
        file takes its final name: a caller cleaning up after an interruption (Ctrl-C,
        SIGTERM) at any moment then knows of every copy this put may have placed.
        """
        try:
            src = source.open("rb")
        except OSError as exc:
            raise BadInput(
                f"cannot read {source} ({exc.strerror}): check its permissions"
            ) from None
        with src:
            tmp = self._tmp_name()
            try:  # the file is created only once the cleanup below knows its name
                with open(tmp, "xb", opener=_private) as out:
                    sha, size = _copy(src, out, progress)
                    out.flush()
                    os.fsync(out.fileno())
                tmp.chmod(self._mode_for(os.fstat(src.fileno()).st_mode))
                return self._place(tmp, sha, size, into)
            except BaseException as exc:
                tmp.unlink(missing_ok=True)
                if isinstance(exc, OSError):
                    raise Unavailable(
                        f"cannot store {source.name} in the artifact folder {self.root} "
                        f"({exc.strerror}): free some space or fix the folder's permissions"
                    ) from None
                raise

    def _place(self, tmp: Path, sha: str, size: int, into: list[Stored] | None) -> Stored:
        """Move a finished copy to its final name: created if absent, else replacing.

        ``into`` hears of it first, as created: cut short before the link, the cleanup
        finds no file of this copy's identity and keeps what is there. Replacing a copy
        that was there, it hears first that nothing was created, since another put of
        these bytes may be about to record them."""
        dest = self.path_for(sha)
        self._make_dir(dest.parent)
        placed = identity(tmp.stat())
        announced = [] if into is None else into
        announced.append(Stored(sha, size, True, placed))
        try:
            os.link(tmp, dest)  # atomic "create if absent"
        except FileExistsError:
            announced[-1] = Stored(sha, size, False, placed)
            os.replace(tmp, dest)
            return announced[-1]
        tmp.unlink()
        return announced[-1]

    @contextlib.contextmanager
    def scratch(self, prefix: str) -> Iterator[Path]:
        """A private folder for work in progress (e.g. a model being converted): inside the
        store, so a killed process leaves it where ``baton gc`` finds it."""
        try:
            self._make_dir(self.tmp_dir)
            holder = tempfile.TemporaryDirectory(prefix=prefix, dir=self.tmp_dir)
        except OSError as exc:
            raise self._unwritable(exc) from None
        with holder as folder:
            yield Path(folder)

    def verified_path(self, sha256: str) -> Path:
        """The file's path after checking its bytes still hash to its name."""
        path = self.path_for(sha256)
        if not path.exists():
            raise NotFound(
                f"artifact {sha256[:12]} is missing from {self.root}: "
                "was BATON_ARTIFACTS moved? Re-register the model to restore it"
            )
        actual = file_sha256(path)
        if actual != sha256:
            raise Corrupt(
                f"artifact {sha256[:12]} is corrupted (its bytes hash to {actual[:12]}): "
                "it will not be used; re-register the model from its source to restore it"
            )
        return path

    def read_bytes(self, sha256: str) -> bytes:
        data = self.verified_path(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:  # changed between check and read
            raise Corrupt(f"artifact {sha256[:12]} changed while being read")
        return data

    def discard(self, sha256: str, keep: Callable[[os.stat_result], bool]) -> bool:
        """Remove a stored file unless ``keep`` says otherwise, safely against a concurrent put.

        The file is moved aside and looked at again: a put of the same bytes that raced in
        shows as another copy (changed identity), and the file goes back. True if removed.
        """
        dest = self.path_for(sha256)
        try:
            before = dest.stat()
            if keep(before):
                return False
            self._make_dir(self.tmp_dir)
            aside = self.tmp_dir / f"gc-{sha256}-{time.time_ns()}"
            os.rename(dest, aside)
        except FileNotFoundError:
            return False
        after = aside.stat()
        if keep(after) or identity(after) != identity(before):
            self._put_back(aside, dest)
            return False
        aside.unlink()
        return True

    def stored(self) -> list[Entry]:
        """Every stored file (digest, size, age), whether or not a record names it."""
        if not self.root.exists():
            return []
        out = []
        for path in self.root.glob("??/*"):
            if _SHA.match(path.name) and path.parent.name == path.name[:2]:
                with contextlib.suppress(FileNotFoundError):
                    st = path.stat()
                    if stat.S_ISREG(st.st_mode):
                        out.append(Entry(path.name, st.st_size, st.st_mtime))
        return sorted(out, key=lambda e: e.name)

    def all_digests(self) -> list[str]:
        return [e.name for e in self.stored()]

    def temporary(self) -> list[Entry]:
        """What is in ``.tmp``: work in progress, or left by a killed process."""
        if not self.tmp_dir.is_dir():
            return []
        out = []
        for path in self.tmp_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                size, mtime = _tree_size_and_mtime(path)
                moved = _QUARANTINE.match(path.name)
                if moved:  # a file moved aside keeps its old mtime: its name says when
                    mtime = int(moved[2]) / 1e9
                out.append(Entry(path.name, size, mtime))
        return sorted(out, key=lambda e: e.name)

    def remove_temporary(self, name: str, referenced: set[str]) -> None:
        """Remove a leftover from ``.tmp``; a referenced file that a killed ``discard`` had
        moved aside goes back to its place instead."""
        path = self.tmp_dir / name
        moved = _QUARANTINE.match(name)
        if moved and moved[1] in referenced:
            self._put_back(path, self.path_for(moved[1]))
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, onerror=_unless_gone)
        else:
            path.unlink(missing_ok=True)

    # -- helpers --------------------------------------------------------------------------

    def _tmp_name(self) -> Path:
        try:
            self._make_dir(self.tmp_dir)
        except OSError as exc:
            raise self._unwritable(exc) from None
        return self.tmp_dir / f"put-{secrets.token_hex(8)}"

    def _unwritable(self, exc: OSError) -> Unavailable:
        return Unavailable(
            f"cannot write to the artifact folder {self.root} ({exc.strerror}): "
            "check BATON_ARTIFACTS and its permissions"
        )

    def _make_dir(self, folder: Path) -> None:
        """A folder inside the store, with the store folder's permissions (never wider)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if folder != self.root:
            folder.mkdir(mode=stat.S_IMODE(self.root.stat().st_mode), exist_ok=True)

    def _mode_for(self, source_mode: int) -> int:
        """Read-only; read by whom the store folder lets in and the source let in."""
        return 0o400 | (0o444 & self.root.stat().st_mode & source_mode)

    def _put_back(self, aside: Path, dest: Path) -> None:
        try:
            os.link(aside, dest)
        except FileExistsError:
            pass  # a newer copy of the same bytes is already there
        except FileNotFoundError:
            return  # someone else put it back or cleared it already
        aside.unlink(missing_ok=True)


def _unless_gone(
    func: object, path: str, info: tuple[type[BaseException], BaseException, object]
) -> None:
    if not issubclass(info[0], FileNotFoundError):  # another gc may be clearing it too
        raise info[1]


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _copy(src: BinaryIO, out: BinaryIO, progress: Progress | None) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
        if progress:
            progress(len(chunk))
    return digest.hexdigest(), size


def _tree_size_and_mtime(path: Path) -> tuple[int, float]:
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size, st.st_mtime
    size, mtime = 0, st.st_mtime
    for inner in path.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            ist = inner.lstat()
            size += ist.st_size if not stat.S_ISDIR(ist.st_mode) else 0
            mtime = max(mtime, ist.st_mtime)
    return size, mtime


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()
