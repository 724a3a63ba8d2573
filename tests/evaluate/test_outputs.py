"""Outputs written in place by ONNX Runtime equal the batches kept and concatenated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from baton.evaluate.outputs import Binding, Outputs
from baton.runtime.mlp import random_mlp


def session(tmp_path: Path, model: onnx.ModelProto) -> ort.InferenceSession:
    onnx.save(model, str(tmp_path / "m.onnx"))
    return ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])


def graph_model(nodes: list[Any], out_type: int, out_shape: list[Any]) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", out_type, out_shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def both(s: ort.InferenceSession, sizes: list[int], capacity: int) -> tuple[Outputs, Outputs]:
    """The same batches through the in-place path and the straightforward one."""
    x = np.random.default_rng(0).random((sum(sizes), 4)).astype(np.float32)
    fast, plain = Outputs(s, capacity), Outputs(s, capacity, in_place=False)
    start = 0
    for n in sizes:
        for outputs in (fast, plain):
            outputs.run({"input": x[start : start + n]}, n)
        start += n
    return fast, plain


def assert_same(fast: Outputs, plain: Outputs) -> None:
    got, want = fast.result(), plain.result()
    assert got.keys() == want.keys()
    for name in want:
        assert got[name].dtype == want[name].dtype
        np.testing.assert_array_equal(got[name], want[name])


def test_an_mlp_is_written_in_place_with_the_same_values(tmp_path: Path) -> None:
    s = session(tmp_path, random_mlp([4, 8, 3], seed=1))
    fast, plain = both(s, [5, 5, 2], capacity=12)
    assert fast.whole is not None and plain.whole is None
    assert_same(fast, plain)
    assert fast.result()["probabilities"].shape == (12, 3)


def test_integer_outputs_are_written_in_place(tmp_path: Path) -> None:
    s = session(
        tmp_path,
        graph_model(
            [helper.make_node("ArgMax", ["input"], ["y"], axis=1, keepdims=0)],
            TensorProto.INT64,
            ["batch"],
        ),
    )
    fast, plain = both(s, [3, 3, 1], capacity=7)
    assert fast.whole is not None
    assert_same(fast, plain)


@pytest.mark.parametrize(
    ("sizes", "capacity"),
    [
        ([3, 3, 3], 7),  # more rows than announced: the rest is kept batch by batch
        ([3, 3], 10),  # fewer rows than announced: the unwritten rows are dropped
    ],
)
def test_a_wrong_row_count_still_gives_every_row(
    tmp_path: Path, sizes: list[int], capacity: int
) -> None:
    s = session(tmp_path, random_mlp([4, 8, 3], seed=2))
    fast, plain = both(s, sizes, capacity)
    assert_same(fast, plain)
    assert len(fast.result()["probabilities"]) == sum(sizes)


def test_an_output_without_a_row_per_input_row_is_kept_batch_by_batch(tmp_path: Path) -> None:
    # a column mean: one row whatever the batch; a first batch of one row looks row-aligned
    mean = graph_model(
        [helper.make_node("ReduceMean", ["input", "axes"], ["y"], keepdims=1)],
        TensorProto.FLOAT,
        [1, 4],
    )
    mean.graph.initializer.append(onnx.numpy_helper.from_array(np.array([0], np.int64), "axes"))
    mean.opset_import[0].version = 18
    s = session(tmp_path, mean)
    for sizes in ([1, 3, 2], [3, 3]):
        fast, plain = both(s, sizes, capacity=sum(sizes))
        assert fast.whole is None  # left the in-place path (or never took it)
        assert_same(fast, plain)
        assert fast.result()["y"].shape == (len(sizes), 4)


def test_string_outputs_are_kept_batch_by_batch(tmp_path: Path) -> None:
    s = session(
        tmp_path,
        graph_model(
            [helper.make_node("Cast", ["input"], ["y"], to=TensorProto.STRING)],
            TensorProto.STRING,
            ["batch", 4],
        ),
    )
    fast, plain = both(s, [2, 2], capacity=4)
    assert fast.whole is None
    assert fast.result()["y"].tolist() == plain.result()["y"].tolist()


def test_a_real_failure_in_place_still_raises(tmp_path: Path) -> None:
    s = session(tmp_path, random_mlp([4, 8, 3], seed=3))
    fast = Outputs(s, 10)
    fast.run({"input": np.zeros((2, 4), np.float32)}, 2)
    assert fast.whole is not None
    with pytest.raises(Exception, match="(?i)dimension|shape|invalid"):
        fast.run({"input": np.zeros((2, 5), np.float32)}, 2)


def test_declared_outputs_are_allocated_before_the_first_batch(tmp_path: Path) -> None:
    s = session(tmp_path, random_mlp([4, 8, 3], seed=4))
    fast = Outputs(s, 12)
    assert fast.whole is not None and fast.whole[0].shape == (12, 3)
    assert Outputs(s, 12, in_place=False).whole is None
    _, plain = both(s, [5, 5, 2], capacity=12)
    fast_again, _ = both(s, [5, 5, 2], capacity=12)
    assert fast_again.whole is not None
    assert_same(fast_again, plain)


def reshaped_to_itself(out_shape: list[Any]) -> onnx.ModelProto:
    """The input reshaped to its own shape: ONNX Runtime cannot infer the output's shape,
    so the declared one stands, true or not."""
    nodes = [
        helper.make_node("Shape", ["input"], ["shape"]),
        helper.make_node("Reshape", ["input", "shape"], ["y"]),
    ]
    return graph_model(nodes, TensorProto.FLOAT, out_shape)


def test_a_symbolic_output_dimension_waits_for_the_first_batch(tmp_path: Path) -> None:
    s = session(tmp_path, reshaped_to_itself(["n", "k"]))
    assert Outputs(s, 6).whole is None
    fast, plain = both(s, [3, 3], capacity=6)
    assert fast.whole is not None  # learnt from the first batch's outputs
    assert_same(fast, plain)


def test_a_declared_shape_that_lies_gives_the_real_outputs(tmp_path: Path) -> None:
    s = session(tmp_path, reshaped_to_itself(["n", 5]))  # it returns [n, 4]
    assert Outputs(s, 6).whole is not None  # believed the declaration
    fast, plain = both(s, [2, 2, 2], capacity=6)
    assert_same(fast, plain)
    assert fast.result()["y"].shape == (6, 4)


def test_the_extension_binding_writes_what_the_public_api_writes(tmp_path: Path) -> None:
    s = session(tmp_path, random_mlp([4, 8, 3], seed=5))
    x = np.random.default_rng(1).random((6, 4)).astype(np.float32)
    fast, public = Binding(s), Binding(s, public=True)
    assert fast.through_extension  # this ONNX Runtime has the layout the fast path needs
    assert not public.through_extension
    got, want = np.full((6, 3), np.nan, np.float32), np.full((6, 3), np.nan, np.float32)
    fast.run({"input": x}, {"probabilities": got})
    public.run({"input": x}, {"probabilities": want})
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, s.run(None, {"input": x})[0])
