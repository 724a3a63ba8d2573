"""Eval data in every format, streamed in batches and checked against the signature."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from baton.core.signature import Signature
from baton.errors import BadInput
from baton.evaluate.datasets import EvalData

SIG = Signature.model_validate(
    {
        "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 3]}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 2]}],
    }
)
RNG = np.random.default_rng(0)
X = RNG.normal(size=(23, 3)).astype(np.float32)
Y = RNG.integers(0, 2, 23)


def write(folder: Path, fmt: str) -> Path:
    path = folder / f"eval{fmt}"
    if fmt == ".npz":
        np.savez(path, x=X, label=Y)
    elif fmt == ".jsonl":
        path.write_text(
            "".join(
                json.dumps({"x": r.tolist(), "label": int(y)}) + "\n"
                for r, y in zip(X, Y, strict=True)
            )
        )
    else:
        cols = {f"x_{i}": X[:, i] for i in range(3)} | {"label": Y}
        table = pa.table(cols)
        if fmt == ".csv":
            pcsv.write_csv(table, path)
        else:
            list_table = pa.table({"x": pa.array(X.tolist(), pa.list_(pa.float32())), "label": Y})
            pq.write_table(list_table, path, row_group_size=5)
    return path


@pytest.mark.parametrize("fmt", [".npz", ".csv", ".parquet", ".jsonl"])
def test_every_format_streams_the_same_rows_in_batches(tmp_path: Path, fmt: str) -> None:
    data = EvalData(write(tmp_path, fmt), f"eval{fmt}", SIG, "label")
    assert data.rows == 23
    batches = list(data.batches(batch_size=10))
    assert [b.rows for b in batches] == [10, 10, 3]
    assert [b.start for b in batches] == [0, 10, 20]
    x = np.concatenate([b.inputs["x"] for b in batches])
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, X, rtol=1e-6)
    y = np.concatenate([b.target for b in batches if b.target is not None])
    assert y.tolist() == Y.tolist()


def test_compressed_npz_and_reference_outputs(tmp_path: Path) -> None:
    path = tmp_path / "e.npz"
    ref = RNG.random((23, 2)).astype(np.float32)
    np.savez_compressed(path, x=X.astype(np.float64), label=Y, probabilities=ref)
    batches = list(EvalData(path, "e.npz", SIG, "label").batches(7))
    assert batches[0].inputs["x"].dtype == np.float32  # float64 data cast to the model's dtype
    got = np.concatenate([b.reference["probabilities"] for b in batches])
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_a_large_file_is_streamed_not_loaded_whole(tmp_path: Path, save: Any) -> None:
    path = tmp_path / "big.npz"
    rows = 400_000  # 4.8 MB of inputs
    save(path, x=np.ones((rows, 3), np.float32), label=np.zeros(rows, np.int64))
    data = EvalData(path, "big.npz", SIG, "label")
    tracemalloc.start()
    try:
        seen = sum(batch.rows for batch in data.batches(1000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == rows
    assert peak < 1 << 20, peak  # a few batches at most, never the file


def _read_all(path: Path) -> None:
    list(EvalData(path, path.name, SIG, "label").batches(8))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: np.savez(p, z=X, label=Y), "has no array 'x' (it has: z, label)"),
        (lambda p: np.savez(p, x=X[:, :2], label=Y), "shape [rows, 2] but 'x' needs [rows, 3]"),
        (lambda p: np.savez(p, x=X.astype(str), label=Y), "holds <U"),
        (lambda p: np.savez(p, x=X, label=Y[:5]), "'label' has 5 rows but 'x' has 23"),
        (lambda p: np.savez(p, x=X), "has no array 'label'"),
        (lambda p: np.savez(p, x=np.zeros((0, 3), np.float32), label=Y[:0]), "has no rows"),
        (lambda p: p.write_bytes(b""), "is empty"),
        (lambda p: p.write_bytes(b"not a zip"), "cannot"),
    ],
)
def test_data_that_does_not_fit_is_one_clear_line(
    tmp_path: Path, make: object, message: str
) -> None:
    path = tmp_path / "e.npz"
    make(path)  # type: ignore[operator]
    with pytest.raises(BadInput) as err:
        _read_all(path)
    assert message in err.value.message
    assert "\n" not in err.value.message


def test_csv_and_jsonl_problems_name_the_fix(tmp_path: Path) -> None:
    csv = tmp_path / "e.csv"
    csv.write_text("x_0,x_1,label\n1,2,0\n")
    with pytest.raises(BadInput, match="x_0..x_2 \\(found 2 of them\\)"):
        list(EvalData(csv, "e.csv", SIG, "label").batches())
    csv.write_text("x_0,x_1,x_2,label\n1,,3,0\n")
    with pytest.raises(BadInput, match="empty cells"):
        list(EvalData(csv, "e.csv", SIG, "label").batches())
    csv.write_text("x_0,x_1,x_2,label\n")
    with pytest.raises(BadInput, match="has no rows"):
        EvalData(csv, "e.csv", SIG, "label")
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text('{"x": [1, 2, 3], "label": 0}\n{"x": [1, 2], "label": 1}\n')
    with pytest.raises(BadInput, match="differ in length"):
        list(EvalData(jsonl, "e.jsonl", SIG, "label").batches())
    jsonl.write_text('{"x": [1, 2, 3], "label": 0}\nnot json\n')
    with pytest.raises(BadInput, match="line 2 is not JSON"):
        list(EvalData(jsonl, "e.jsonl", SIG, "label").batches())
    with pytest.raises(BadInput, match="use one of"):
        EvalData(jsonl, "e.txt", SIG, "label")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.integers(1, 40),
    width=st.integers(1, 4),
    batch=st.integers(1, 50),
    fmt=st.sampled_from([".npz", ".csv", ".parquet", ".jsonl"]),
    seed=st.integers(0, 2**16),
)
def test_any_table_reads_back_row_for_row_in_any_batching(
    tmp_path_factory: pytest.TempPathFactory, rows: int, width: int, batch: int, fmt: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, width)).astype(np.float32)
    y = rng.integers(0, 5, rows)
    sig = Signature.model_validate(
        {
            "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, width]}],
            "outputs": [{"name": "out", "dtype": "float32", "shape": [-1, 2]}],
        }
    )
    path = tmp_path_factory.mktemp("prop") / f"e{fmt}"
    if fmt == ".npz":
        np.savez(path, x=x, label=y)
    elif fmt == ".jsonl":
        path.write_text(
            "".join(
                json.dumps({"x": r.tolist(), "label": int(v)}) + "\n"
                for r, v in zip(x, y, strict=True)
            )
        )
    elif fmt == ".csv":
        pcsv.write_csv(pa.table({**{f"x_{i}": x[:, i] for i in range(width)}, "label": y}), path)
    else:
        pq.write_table(
            pa.table({"x": pa.array(x.tolist(), pa.list_(pa.float32())), "label": y}),
            path,
            row_group_size=7,
        )
    data = EvalData(path, path.name, sig, "label")
    batches = list(data.batches(batch))
    assert data.rows == rows
    assert all(b.rows == batch for b in batches[:-1]) and 0 < batches[-1].rows <= batch
    assert [b.start for b in batches] == list(range(0, rows, batch))
    np.testing.assert_allclose(np.concatenate([b.inputs["x"] for b in batches]), x, rtol=1e-6)
    assert (
        np.concatenate([b.target for b in batches if b.target is not None]).tolist() == y.tolist()
    )


def test_json_nested_beyond_the_parser_is_bad_input(tmp_path: Path) -> None:
    """json.loads raised RecursionError (an internal error) on a very deep line."""
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text('{"x": ' + "[" * 100_000 + "]" * 100_000 + ', "label": 0}\n')
    data = EvalData(jsonl, "e.jsonl", SIG, None)
    assert not data.has_key("label")
    with pytest.raises(BadInput, match="line 1 is not JSON"):
        list(EvalData(jsonl, "e.jsonl", SIG, "label").batches())
