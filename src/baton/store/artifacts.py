"""Content-addressed files: stored under their sha256, written atomically, verified on read."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from baton.errors import Corrupt, NotFound, Unavailable

CHUNK = 1 << 20
_SHA = re.compile(r"^[0-9a-f]{64}$")

Progress = Callable[[int], None]  # called with the number of bytes just processed


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    created: bool  # False when identical bytes were already stored


class ArtifactStore:
    """Files named by their content; a file is never changed once written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        if not _SHA.match(sha256):
            raise Corrupt(f"{sha256!r} is not a sha256 digest")
        return self.root / sha256[:2] / sha256

    def put_file(self, source: Path, progress: Progress | None = None) -> Stored:
        """Copy ``source`` in, hashing as it streams; an existing copy is kept as is."""
        tmp_dir = self.root / ".tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
        except OSError as exc:
            raise Unavailable(
                f"cannot write to the artifact folder {self.root} ({exc.strerror}): "
                "check BATON_ARTIFACTS and its permissions"
            ) from None
        tmp = Path(tmp_name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                while chunk := src.read(CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if progress:
                        progress(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            sha = digest.hexdigest()
            dest = self.path_for(sha)
            if dest.exists() and file_sha256(dest) == sha:
                tmp.unlink()
                return Stored(sha, size, created=False)
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.chmod(0o444)
            os.replace(tmp, dest)
            return Stored(sha, size, created=True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

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

    def remove(self, sha256: str) -> None:
        """Remove a file this process just added and no record refers to."""
        self.path_for(sha256).unlink(missing_ok=True)

    def all_digests(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.glob("??/*") if p.is_file() and _SHA.match(p.name))


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()
