"""One streamed pass runs every model on the same rows; ONNX Runtime failures are crashes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from onnx import TensorProto, helper

from baton.core.serving_config import ServingConfig
from baton.core.signature import Signature
from baton.errors import BadInput
from baton.evaluate.datasets import EvalData
from baton.evaluate.runner import ModelCrashed, open_session, run_models
from baton.evaluate.scoring import class_indices, quality
from baton.runtime.mlp import random_mlp
from tests.evaluate.conftest import crashing_model

SIG = Signature.model_validate(
    {
        "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 64]}],
        "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 10]}],
    }
)


def test_every_model_sees_every_row_once(tmp_path: Path) -> None:
    x = np.random.default_rng(0).random((250, 64)).astype(np.float32)
    np.savez(tmp_path / "e.npz", input=x, label=np.arange(250) % 10)
    models = {}
    for seed in (0, 1):
        onnx.save(random_mlp([64, 16, 10], seed=seed), str(tmp_path / f"{seed}.onnx"))
        models[f"m{seed}"] = open_session(
            tmp_path / f"{seed}.onnx", ServingConfig(graph_optimization="basic")
        )
    done: list[int] = []
    data = EvalData(tmp_path / "e.npz", "e.npz", SIG, "label")
    result = run_models(
        models, data, batch_size=64, target_transform=lambda t: t * 2, progress=done.append
    )
    assert result.rows == 250 and done == [64, 64, 64, 58]
    assert (
        result.target is not None and result.target.tolist() == ((np.arange(250) % 10) * 2).tolist()
    )
    for name, session in models.items():
        whole = session.run(None, {"input": x})[0]
        np.testing.assert_allclose(
            result.outputs[name]["probabilities"], whole, rtol=1e-5, atol=1e-6
        )
        assert result.seconds[name] > 0
    assert not np.allclose(
        result.outputs["m0"]["probabilities"], result.outputs["m1"]["probabilities"]
    )


def test_a_runtime_failure_names_the_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    w = [rng.normal(size=(64, 16)).astype(np.float32), rng.normal(size=(16, 10)).astype(np.float32)]
    b = [np.zeros(16, np.float32), np.zeros(10, np.float32)]
    onnx.save(crashing_model(w, b), str(tmp_path / "crash.onnx"))
    x = np.zeros((100, 64), np.float32)
    x[70:, 0] = 1.0
    np.savez(tmp_path / "e.npz", input=x, label=np.zeros(100, np.int64))
    session = open_session(tmp_path / "crash.onnx")
    with pytest.raises(ModelCrashed, match="the candidate failed on rows 60..79"):
        run_models(
            {"candidate": session},
            EvalData(tmp_path / "e.npz", "e.npz", SIG, "label"),
            batch_size=20,
        )


def test_a_file_onnx_runtime_cannot_load_is_a_crash(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    with pytest.raises(ModelCrashed, match="cannot load the baseline"):
        open_session(tmp_path / "bad.onnx", label="baseline")


def test_batches_are_sized_by_bytes_not_rows() -> None:
    from baton.evaluate.runner import MAX_BATCH, MIN_BATCH, batch_rows

    assert batch_rows(SIG) == MAX_BATCH  # 256-byte rows: the cap
    wide = Signature.model_validate(
        {
            "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 1024]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [-1, 1]}],
        }
    )
    assert batch_rows(wide) == 1024  # 4 KiB rows, 4 MiB batches
    image = Signature.model_validate(
        {
            "inputs": [{"name": "image", "dtype": "float32", "shape": [-1, 3, 224, 224]}],
            "outputs": [{"name": "logits", "dtype": "float32", "shape": [-1, 1000]}],
        }
    )
    assert batch_rows(image) == MIN_BATCH  # never fewer rows than this


def write_eval(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """The same rows in each format the runner reads (a blank line in the .jsonl makes the
    announced row count too high, which the in-place path must survive)."""
    if path.suffix == ".npz":  # e.z.npz: compressed (streamed); e-f64.npz: cast by batch
        save = np.savez_compressed if ".z." in path.name else np.savez
        save(path, input=x.astype(np.float64) if "f64" in path.name else x, label=y)
    elif path.suffix == ".jsonl":
        lines = [
            json.dumps({"input": r.tolist(), "label": int(t)}) for r, t in zip(x, y, strict=True)
        ]
        path.write_text("\n".join(lines[:50]) + "\n\n" + "\n".join(lines[50:]) + "\n")
    else:
        table = pa.table({"input": list(x), "label": y})
        pq.write_table(table, path, row_group_size=37)


@pytest.mark.parametrize("name", ["e.npz", "e.z.npz", "e-f64.npz", "e.jsonl", "e.parquet"])
def test_the_fast_path_gives_the_straightforward_paths_outputs_and_metrics(
    tmp_path: Path, name: str
) -> None:
    rng = np.random.default_rng(4)
    x = rng.random((203, 64)).astype(np.float32)
    y = rng.integers(0, 10, 203)
    write_eval(tmp_path / name, x, y)
    sessions = {}
    for seed in (0, 1):
        onnx.save(random_mlp([64, 16, 10], seed=seed), str(tmp_path / f"{seed}.onnx"))
        sessions[f"m{seed}"] = open_session(tmp_path / f"{seed}.onnx")
    results = []
    for in_place in (True, False):
        data = EvalData(tmp_path / name, name, SIG, "label")
        results.append(
            run_models(
                sessions,
                data,
                batch_size=64,
                target_transform=lambda t: class_indices(t, None, 10, name),
                in_place=in_place,
            )
        )
    fast, plain = results
    assert fast.rows == plain.rows == 203
    assert fast.target is not None and plain.target is not None
    np.testing.assert_array_equal(fast.target, plain.target)
    for model in sessions:
        got, want = fast.outputs[model]["probabilities"], plain.outputs[model]["probabilities"]
        assert got.dtype == want.dtype and got.shape == want.shape == (203, 10)
        np.testing.assert_array_equal(got, want)
        metrics = [
            quality(
                "classification", r.target, r.outputs[model]["probabilities"], None, 10, None, True
            )
            for r in results
        ]
        assert metrics[0] == metrics[1]


def test_a_stored_npz_target_is_checked_before_the_pass(tmp_path: Path) -> None:
    x = np.zeros((100, 64), np.float32)
    y = np.arange(100)  # 10..99 are not classes of a 10-class model
    np.savez(tmp_path / "e.npz", input=x, label=y)
    onnx.save(random_mlp([64, 16, 10]), str(tmp_path / "m.onnx"))
    done: list[int] = []
    with pytest.raises(BadInput, match="labels the model does not know: 10, 11"):
        run_models(
            {"candidate": open_session(tmp_path / "m.onnx")},
            EvalData(tmp_path / "e.npz", "e.npz", SIG, "label"),
            batch_size=20,
            target_transform=lambda t: class_indices(t, None, 10, "e.npz"),
            progress=done.append,
        )
    assert done == []  # no model ran


def test_a_model_that_fails_its_plan_hands_the_rest_of_the_pass_to_the_general_path(
    tmp_path: Path,
) -> None:
    """The liar declares [n, 10] and returns [n, 64]: its first planned run fails after the
    good model ran that batch on its plan; the rest runs the general way, no batch twice."""
    liar = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Shape", ["input"], ["shape"]),
                helper.make_node("Reshape", ["input", "shape"], ["probabilities"]),
            ],
            "liar",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 64])],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 10])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    liar.ir_version = 8
    onnx.save(liar, str(tmp_path / "liar.onnx"))
    onnx.save(random_mlp([64, 16, 10], seed=3), str(tmp_path / "good.onnx"))
    x = np.random.default_rng(5).random((150, 64)).astype(np.float32)
    np.savez(tmp_path / "e.npz", input=x, label=np.arange(150) % 10)
    sessions = {m: open_session(tmp_path / f"{m}.onnx") for m in ("good", "liar")}
    done: list[int] = []
    results = [
        run_models(
            sessions,
            EvalData(tmp_path / "e.npz", "e.npz", SIG, "label"),
            batch_size=64,
            in_place=in_place,
            progress=done.append if in_place else None,
        )
        for in_place in (True, False)
    ]
    assert done == [64, 64, 22]
    for model in sessions:
        got, want = (r.outputs[model]["probabilities"] for r in results)
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(results[0].outputs["liar"]["probabilities"], x)
