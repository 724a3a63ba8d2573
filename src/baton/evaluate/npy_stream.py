"""Read the arrays of an ``.npz`` archive row block by row block, without loading them.

Stored (uncompressed) members are memory-mapped, so a batch is a view of the page cache
and no byte is copied; compressed members are decompressed as they stream.
"""

from __future__ import annotations

import math
import struct
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from baton.errors import BadInput


class NpyMember:
    """One array of an .npz, read by rows. Stored (uncompressed) members are memory-mapped,
    so a batch is a view of the page cache and no byte is copied; compressed members are
    decompressed as they stream. The artifact store has verified the file's sha256, so
    the zip CRC is not recomputed on the fast path."""

    def __init__(self, path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str):
        self.key = key
        self.filename = path.name
        self.stream: IO[bytes] = archive.open(info)
        self.shape, self.dtype, _ = npy_header(self.stream, key, path.name)
        if info.file_size - self.stream.tell() < math.prod(self.shape) * self.dtype.itemsize:
            raise self._short()
        self.mapped: np.ndarray | None = None
        if info.compress_type == zipfile.ZIP_STORED:
            with path.open("rb") as raw:
                raw.seek(info.header_offset)
                header = raw.read(30)
                name_len, extra_len = struct.unpack("<HH", header[26:30])
                raw.seek(info.header_offset + 30 + name_len + extra_len)
                npy_header(raw, key, path.name)
                offset = raw.tell()
            mapped = np.memmap(path, self.dtype, mode="r", offset=offset, shape=self.shape)
            self.mapped = np.asarray(mapped)  # a plain view: slicing it costs nothing

    def read(self, start: int, n: int) -> np.ndarray:
        if self.mapped is not None:
            return self.mapped[start : start + n]
        row_bytes = math.prod(self.shape[1:]) * self.dtype.itemsize
        data = self.stream.read(n * row_bytes)
        if len(data) < n * row_bytes:
            raise self._short()
        return np.frombuffer(data, dtype=self.dtype).reshape((n, *self.shape[1:]))

    def _short(self) -> BadInput:
        return BadInput(
            f"eval data {self.filename}: array {self.key!r} holds fewer values than its "
            f"header's shape {list(self.shape)}: write it again with np.savez"
        )

    def close(self) -> None:
        self.stream.close()
        self.mapped = None


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
