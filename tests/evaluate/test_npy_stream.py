"""Arrays inside .npz archives read by rows: mapped when stored, streamed when compressed."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from baton.errors import BadInput
from baton.evaluate.npy_stream import NpyMember


def members(path: Path) -> dict[str, NpyMember]:
    archive = zipfile.ZipFile(path)
    return {
        n.removesuffix(".npy"): NpyMember.open(path, archive, archive.getinfo(n), n)
        for n in archive.namelist()
    }


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_rows_read_back_exactly_whether_mapped_or_streamed(tmp_path: Path, save: Any) -> None:
    x = np.arange(7 * 3 * 2, dtype=np.float64).reshape(7, 3, 2)
    names = np.array(["a", "bb", "ccc", "d", "e", "f", "g"])
    save(tmp_path / "a.npz", x=x, names=names)
    got = members(tmp_path / "a.npz")
    assert (got["x"].mapped is not None) == (save is np.savez)
    assert got["x"].shape == (7, 3, 2) and got["x"].dtype == np.float64
    parts = [got["x"].read(start, min(3, 7 - start)) for start in range(0, 7, 3)]
    np.testing.assert_array_equal(np.concatenate(parts), x)
    labels = [got["names"].read(start, min(3, 7 - start)) for start in range(0, 7, 3)]
    assert np.concatenate(labels).tolist() == names.tolist()
    for m in got.values():
        m.close()


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array([{"a": 1}], dtype=object), "holds Python objects"),
        (np.asfortranarray(np.ones((3, 2))), "Fortran order"),
        (np.float32(3.0), "is a scalar"),
    ],
)
def test_arrays_that_cannot_be_streamed_safely_are_refused(
    tmp_path: Path, array: np.ndarray, message: str
) -> None:
    np.savez(tmp_path / "a.npz", x=array)
    with pytest.raises(BadInput, match=message):
        members(tmp_path / "a.npz")


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_header_that_promises_more_rows_than_it_holds_is_refused(
    tmp_path: Path, method: int
) -> None:
    """Memory-mapping such a member raised ValueError (an internal error) at evaluation."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ones((4, 2), np.float32))
    with zipfile.ZipFile(tmp_path / "a.npz", "w", compression=method) as archive:
        archive.writestr("x.npy", buf.getvalue().replace(b"(4, 2)", b"(9999, 2)"))
    with pytest.raises(BadInput, match=r"array 'x.npy' holds fewer values than its header's"):
        members(tmp_path / "a.npz")
