"""Build an ONNX multilayer perceptron from weight matrices.

Used by the example hand-over, the tests (models that really are better, worse, broken or
slower) and the benchmarks (a heavy model), so none of them needs PyTorch.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def mlp_onnx(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    *,
    activation: Literal["relu", "tanh"] = "relu",
    head: Literal["softmax", "identity", "sigmoid"] = "softmax",
    input_name: str = "input",
    output_name: str = "probabilities",
) -> onnx.ModelProto:
    """``x -> act(x W1 + b1) -> ... -> head(x Wn + bn)`` with a dynamic batch dimension."""
    if len(weights) != len(biases) or not weights:
        raise ValueError("need one bias per weight matrix, and at least one layer")
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    current = input_name
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inits.append(numpy_helper.from_array(np.asarray(w, np.float32), f"W{i}"))
        inits.append(numpy_helper.from_array(np.asarray(b, np.float32), f"b{i}"))
        nodes.append(helper.make_node("MatMul", [current, f"W{i}"], [f"mm{i}"]))
        last = i == len(weights) - 1
        added = f"z{i}" if not last or head != "identity" else output_name
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [added]))
        if not last:
            op = "Relu" if activation == "relu" else "Tanh"
            nodes.append(helper.make_node(op, [added], [f"h{i}"]))
            current = f"h{i}"
        elif head == "softmax":
            nodes.append(helper.make_node("Softmax", [added], [output_name], axis=-1))
        elif head == "sigmoid":
            nodes.append(helper.make_node("Sigmoid", [added], [output_name]))
    n_in = int(np.asarray(weights[0]).shape[0])
    n_out = int(np.asarray(weights[-1]).shape[1])
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", n_in])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", n_out])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    model.producer_name = "baton"
    onnx.checker.check_model(model)
    return model


def random_mlp(
    sizes: Sequence[int], seed: int = 0, head: Literal["softmax", "identity", "sigmoid"] = "softmax"
) -> onnx.ModelProto:
    """An MLP with random weights, e.g. ``[64, 1024, 1024, 1024, 10]`` for a heavy model."""
    rng = np.random.default_rng(seed)
    weights = [
        rng.normal(0, np.sqrt(2 / a), size=(a, b)).astype(np.float32)
        for a, b in itertools.pairwise(sizes)
    ]
    biases = [np.zeros(b, np.float32) for b in sizes[1:]]
    return mlp_onnx(weights, biases, head=head)
