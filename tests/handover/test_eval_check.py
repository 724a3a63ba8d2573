"""Eval data that no evaluation could read is refused at hand-over, in one line."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from baton.errors import BadInput
from baton.handover.bundle import read_handover
from baton.handover.eval_check import check_eval_data
from tests.handover_factory import write_handover

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 4)).astype(np.float32)
Y = RNG.integers(0, 3, 32)


def handover_with(
    tmp_path: Path, suffix: str, write: Callable[[Path], None], **man: object
) -> Path:
    folder = write_handover(tmp_path / "h")
    (folder / "eval.npz").unlink()
    data = yaml.safe_load((folder / "baton.yaml").read_text())
    data["eval"]["data"] = f"eval{suffix}"
    data.update(man)
    (folder / "baton.yaml").write_text(yaml.safe_dump(data))
    write(folder / f"eval{suffix}")
    return folder


def npz_members(**arrays: np.ndarray) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as archive:
            for key, array in arrays.items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, array)
                raw = buf.getvalue()
                if key == "input":  # a header that promises far more rows than it holds
                    raw = raw.replace(b"(32, 4)", b"(99999999, 4)")
                archive.writestr(f"{key}.npy", raw)

    return write


def _truncated(p: Path) -> None:
    np.savez(p, input=X, label=Y)
    p.write_bytes(p.read_bytes()[:300])


CASES: list[tuple[str, str, Callable[[Path], None], str]] = [
    ("truncated", ".npz", _truncated, "cannot be read as .npz"),
    ("empty", ".npz", lambda p: p.write_bytes(b""), "eval.npz is empty"),
    ("header_lies", ".npz", npz_members(input=X, label=Y), "holds fewer values than its header"),
    ("no_input", ".npz", lambda p: np.savez(p, pixels=X, label=Y), "has no array 'input'"),
    ("no_target", ".npz", lambda p: np.savez(p, input=X), "has no array 'label'"),
    (
        "wrong_width",
        ".npz",
        lambda p: np.savez(p, input=X[:, :3], label=Y),
        r"has shape \[rows, 3\] but 'input' needs \[rows, 4\]",
    ),
    (
        "text_input",
        ".npz",
        lambda p: np.savez(p, input=X.astype(str), label=Y),
        "holds <U.* values but the model takes float32",
    ),
    ("unknown_class", ".npz", lambda p: np.savez(p, input=X, label=Y + 5), "labels the model does"),
    ("2d_target", ".npz", lambda p: np.savez(p, input=X, label=np.eye(32, 3)), "one class index"),
    (
        "row_counts",
        ".npz",
        lambda p: np.savez(p, input=X, label=Y[:5]),
        "array 'label' has 5 rows but 'input' has 32",
    ),
    ("csv_columns", ".csv", lambda p: p.write_text("a,b\n1,2\n"), "needs a column 'input'"),
    ("csv_ragged", ".csv", lambda p: p.write_text("input,label\n1\n1,2,3\n"), "cannot be read"),
    ("jsonl_not_json", ".jsonl", lambda p: p.write_text("{oops\n"), "line 1 is not JSON"),
    (
        "jsonl_too_deep",
        ".jsonl",
        lambda p: p.write_text('{"input": ' + "[" * 100_000 + "]" * 100_000 + "}\n"),
        "line 1 is not JSON",
    ),
    ("parquet_garbage", ".parquet", lambda p: p.write_bytes(b"PAR1 no PAR1"), "cannot be read"),
]


@pytest.mark.parametrize(
    ("suffix", "write", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_unusable_eval_data_is_refused(
    tmp_path: Path, suffix: str, write: Callable[[Path], None], message: str
) -> None:
    handover = read_handover(handover_with(tmp_path, suffix, write))
    with pytest.raises(BadInput, match=message) as info:
        check_eval_data(handover)
    assert info.value.message.startswith(f"eval data eval{suffix}")
    assert "\n" not in info.value.message


def _parquet(p: Path) -> None:
    pq.write_table(pa.table({"input": [list(map(float, r)) for r in X], "label": Y}), p)


GOOD: list[tuple[str, Callable[[Path], None]]] = [
    (".npz", lambda p: np.savez_compressed(p, input=X, label=Y)),
    (".csv", lambda p: p.write_text("input_0,input_1,input_2,input_3,label\n0,1,2,3,1\n")),
    (".jsonl", lambda p: p.write_text('{"input": [0, 1, 2, 3], "label": 2}\n')),
    (".parquet", _parquet),
]


@pytest.mark.parametrize(("suffix", "write"), GOOD, ids=[g[0] for g in GOOD])
def test_every_format_that_fits_passes(
    tmp_path: Path, suffix: str, write: Callable[[Path], None]
) -> None:
    check_eval_data(read_handover(handover_with(tmp_path, suffix, write)))


def test_the_target_is_optional_where_the_evaluation_does_without(tmp_path: Path) -> None:
    folder = handover_with(
        tmp_path, ".npz", lambda p: np.savez(p, input=X), task="generic", labels=None
    )
    check_eval_data(read_handover(folder))


def test_no_eval_data_is_nothing_to_check(tmp_path: Path) -> None:
    folder = write_handover(tmp_path / "h")
    data = yaml.safe_load((folder / "baton.yaml").read_text())
    del data["eval"]
    (folder / "baton.yaml").write_text(yaml.safe_dump(data))
    check_eval_data(read_handover(folder))
