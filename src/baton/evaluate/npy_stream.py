"""Read the arrays of an ``.npz`` archive row block by row block, without loading them.

Stored (uncompressed) members are memory-mapped, so a batch is a view of the page cache
and no byte is copied; compressed members are decompressed as they stream. Where each
member lies (``MemberLayout``) is read once per file, so a pass over stored members opens
no zip at all: one ``mmap`` of the file, and a view per member.
"""

from __future__ import annotations

import math
import mmap
import struct
import zipfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from baton.errors import BadInput


@dataclass(frozen=True)
class MemberLayout:
    """One array of an .npz: its shape and dtype, and for a stored member where its data
    starts in the file (``None`` for a compressed member, which must be streamed)."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    header_bytes: int  # the .npy header in front of the data, inside the member
    offset: int | None
    filename: str  # the eval file's name as people know it, for messages


def locate(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str, filename: str = ""
) -> MemberLayout:
    """Read one member's .npy header (once) and, when stored, where its data lies."""
    filename = filename or path.name
    with archive.open(info) as stream:
        shape, dtype, _ = npy_header(stream, key, filename)
        header_bytes = stream.tell()
    if info.file_size - header_bytes < math.prod(shape) * dtype.itemsize:
        raise short(filename, key, shape)  # mapping it would fail inside the evaluation
    offset = None
    if info.compress_type == zipfile.ZIP_STORED:
        with path.open("rb") as raw:  # the local header's extra field may differ from the
            raw.seek(info.header_offset)  # central directory's, so read its own lengths
            name_len, extra_len = struct.unpack("<HH", raw.read(30)[26:30])
        offset = info.header_offset + 30 + name_len + extra_len + header_bytes
        if offset + math.prod(shape) * dtype.itemsize > path.stat().st_size:
            raise short(filename, key, shape)
    return MemberLayout(key, shape, dtype, header_bytes, offset, filename)


def short(filename: str, key: str, shape: tuple[int, ...]) -> BadInput:
    return BadInput(
        f"eval data {filename}: array {key!r} holds fewer values than its "
        f"header's shape {list(shape)}: write it again with np.savez"
    )


def map_file(path: Path) -> mmap.mmap:
    """The whole file, mapped read-only (views of it keep the mapping alive)."""
    with path.open("rb") as f:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


class NpyMember:
    """One array of an .npz, read by rows. A stored member is a view of ``mapping`` (no
    byte copied; the artifact store has verified the file's sha256, so the zip CRC is not
    recomputed); a compressed one is decompressed from ``stream`` as it is read."""

    def __init__(
        self,
        layout: MemberLayout,
        *,
        mapping: mmap.mmap | None = None,
        stream: IO[bytes] | None = None,
    ):
        self.key, self.shape, self.dtype = layout.key, layout.shape, layout.dtype
        self.filename = layout.filename
        self.stream = stream
        self.mapped: np.ndarray | None = None
        self._row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        if mapping is not None and layout.offset is not None:
            count = math.prod(self.shape)
            flat = np.frombuffer(mapping, self.dtype, count=count, offset=layout.offset)
            self.mapped = flat.reshape(self.shape)
        elif stream is not None:
            stream.read(layout.header_bytes)
        else:
            raise ValueError(f"member {layout.key!r} needs a mapping (stored) or a stream")

    @classmethod
    def open(
        cls, path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str
    ) -> NpyMember:
        """Locate and open one member on its own (mapped when stored, else streamed)."""
        layout = locate(path, archive, info, key)
        if layout.offset is not None:
            return cls(layout, mapping=map_file(path))
        return cls(layout, stream=archive.open(info))

    def read(self, start: int, n: int) -> np.ndarray:
        if self.mapped is not None:
            return self.mapped[start : start + n]
        assert self.stream is not None
        data = self.stream.read(n * self._row_bytes)
        if len(data) < n * self._row_bytes:
            raise short(self.filename, self.key, self.shape)
        return np.frombuffer(data, dtype=self.dtype).reshape((n, *self.shape[1:]))

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        self.mapped = None  # the mapping goes once the last view of it is gone


class NpzArrays:
    """The arrays of one .npz that the passes over it read: located once (the first pass
    checks the zip), mapped once (later passes reuse the mapping's pages), streamed per pass
    where compressed."""

    def __init__(self, path: Path, filename: str):
        self.path = path
        self.filename = filename
        self._layout: dict[str, MemberLayout] | None = None
        self._mapping: mmap.mmap | None = None
        self._views: dict[str, np.ndarray] = {}  # stored members' whole views, made once

    def archive(self) -> zipfile.ZipFile:
        try:
            return zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise BadInput(
                f"eval data {self.filename} cannot be read as .npz ({exc}): "
                "write it with np.savez or np.savez_compressed"
            ) from None

    def info(self, archive: zipfile.ZipFile, key: str) -> zipfile.ZipInfo:
        names = [n.removesuffix(".npy") for n in archive.namelist()]
        if key not in names:
            raise BadInput(
                f"eval data {self.filename} has no array {key!r} (it has: {', '.join(names)}): "
                "name the arrays after the model's inputs and the target, "
                f"e.g. np.savez(path, {key}=...)"
            )
        return archive.getinfo(f"{key}.npy")

    def layout(self, wanted: Callable[[set[str]], list[str]], rows: int) -> dict[str, MemberLayout]:
        """Where each array ``wanted(names in the archive)`` names lies; each must have
        ``rows`` rows. Checked on the first call only."""
        if self._layout is None:
            with self.archive() as archive:
                keys = wanted({n.removesuffix(".npy") for n in archive.namelist()})
                layout = {
                    k: locate(self.path, archive, self.info(archive, k), k, self.filename)
                    for k in keys
                }
            for key, member in layout.items():
                if member.shape[0] != rows:
                    raise BadInput(
                        f"eval data {self.filename}: array {key!r} has {member.shape[0]} "
                        f"rows but {keys[0]!r} has {rows}: every array needs one row "
                        "per example"
                    )
            self._layout = layout
        return self._layout

    def members(self, layout: dict[str, MemberLayout], stack: ExitStack) -> dict[str, NpyMember]:
        """One reader per array for one pass; ``stack`` closes them."""
        members: dict[str, NpyMember] = {}

        def close() -> None:
            for member in members.values():
                member.close()

        stack.callback(close)
        streamed = [k for k, m in layout.items() if m.offset is None]
        archive = stack.enter_context(self.archive()) if streamed else None
        for key, member in layout.items():
            if archive is not None and key in streamed:
                members[key] = NpyMember(member, stream=archive.open(self.info(archive, key)))
            else:
                members[key] = NpyMember(member, mapping=self._mapped())
        return members

    def whole(self, key: str) -> np.ndarray | None:
        """All rows of a stored array located before, as one view; None if streamed."""
        if key in self._views:
            return self._views[key]
        member = (self._layout or {}).get(key)
        if member is None or member.offset is None:
            return None
        view = NpyMember(member, mapping=self._mapped()).mapped
        assert view is not None
        self._views[key] = view
        return view

    def _mapped(self) -> mmap.mmap:
        if self._mapping is None:
            self._mapping = map_file(self.path)
        return self._mapping


def npy_header(
    f: IO[bytes], key: str, filename: str
) -> tuple[tuple[int, ...], np.dtype[Any], bool]:
    from numpy.lib import format as npy

    try:
        major, _ = npy.read_magic(f)
        if major == 1:
            shape, fortran, dtype = npy.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = npy.read_array_header_2_0(f)
    except ValueError as exc:
        raise BadInput(f"eval data {filename}: array {key!r} is not a .npy array ({exc})") from None
    if dtype.hasobject:
        raise BadInput(
            f"eval data {filename}: array {key!r} holds Python objects, which baton never "
            "unpickles: store numbers, or strings as a fixed-width str array"
        )
    if fortran and len(shape) > 1:
        raise BadInput(
            f"eval data {filename}: array {key!r} is in Fortran order: save "
            "np.ascontiguousarray(x) so it can be streamed by rows"
        )
    if not shape:
        raise BadInput(
            f"eval data {filename}: array {key!r} is a scalar; it needs one row per example"
        )
    return tuple(shape), dtype, fortran
