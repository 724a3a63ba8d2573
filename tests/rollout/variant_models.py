"""Real ONNX versions of one small classifier for the canary tests, built with onnx.helper.

Every version reads ``input`` [-1, 5] and answers ``probabilities`` [-1, 3] (the softmax of
a linear layer over the first four features; the fifth, a request flag, weighs nothing),
so each passes the same gate and the server's signature checks. The load generator sends
the first four features as the evaluation data has them (uniform in [-1, 1]), so served
outputs fill the evaluation's output bins as they did there, and the flag uniform in
[-2, 2] where the evaluation data keeps it in [-1, 1]; what differs is what a version does
with the flag values the evaluation never showed:

- ``stable``: the production version;
- ``good``: the same answers from other bytes (a zero added): no worse than the baseline;
- ``erroring``: when a batch's flag exceeds 1.2 it answers a fourth column of zeros,
  breaking its own signature ([-1, 3]); the server refuses to pass such an answer on (500),
  for a fifth of the requests (a model bug that real inputs trigger);
- ``slow``: the same answers plus a 1024 x 1024 matrix product scaled by the input (so it
  cannot be folded away at load) and multiplied by zero: about 4.6 ms more a batch on a quiet
  core, 15 times the stable version's whole request (512 x 512 added 0.55 ms, under the
  test profile's allowed 3x, and passed on a quiet machine);
- ``nan``: adds 0 x log(flag + 1.5): NaN on every row whose flag is below -1.5 (1 row in
  8), served as null with status 200;
- ``drifting``: valid, finite answers from a bias moved toward the last class: what it
  predicts moves, nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
FEATURES, CLASSES = 5, 3
FLAG = FEATURES - 1  # the request flag: no weight in the answer
_W = np.vstack([np.random.default_rng(7).normal(size=(FLAG, CLASSES)),
                np.zeros((1, CLASSES))]).astype(np.float32)  # fmt: skip
_PICK_FLAG = np.zeros((FEATURES, 1), np.float32)
_PICK_FLAG[FLAG, 0] = 1.0
_B = np.array([0.1, -0.2, 0.05], dtype=np.float32)

Nodes = list[onnx.NodeProto]
Inits = list[onnx.TensorProto]


def _const(name: str, value: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(value, name)


def _linear(weights: np.ndarray, out: str = "probs", bias: np.ndarray = _B) -> tuple[Nodes, Inits]:
    nodes = [
        helper.make_node("MatMul", ["input", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], [out], axis=1),
    ]
    return nodes, [_const("W", weights), _const("B", bias)]


def stable() -> tuple[Nodes, Inits]:
    return _linear(_W, "probabilities")


def good() -> tuple[Nodes, Inits]:
    nodes, inits = _linear(_W)
    nodes.append(helper.make_node("Add", ["probs", "Z"], ["probabilities"]))
    return nodes, [*inits, _const("Z", np.zeros(CLASSES, np.float32))]


def erroring() -> tuple[Nodes, Inits]:
    nodes, inits = _linear(_W)
    nodes += [
        helper.make_node("MatMul", ["input", "PICK"], ["flag"]),
        helper.make_node("ReduceMax", ["flag"], ["peak"], keepdims=0),
        helper.make_node("Greater", ["peak", "T"], ["over"]),
        helper.make_node("Cast", ["over"], ["over_i"], to=TensorProto.INT64),
        helper.make_node("Reshape", ["over_i", "SHAPE1"], ["width"]),
        helper.make_node("Concat", ["ONE_I", "width"], ["repeats"], axis=0),
        helper.make_node("Mul", ["flag", "ZERO"], ["zero_col"]),
        helper.make_node("Tile", ["zero_col", "repeats"], ["extra"]),
        helper.make_node("Concat", ["probs", "extra"], ["probabilities"], axis=1),
    ]
    return nodes, [*inits, _const("PICK", _PICK_FLAG), _const("T", np.array(1.2, np.float32)),
                   _const("SHAPE1", np.array([1], np.int64)),
                   _const("ONE_I", np.array([1], np.int64)),
                   _const("ZERO", np.array(0.0, np.float32))]  # fmt: skip


def slow(size: int = 1024) -> tuple[Nodes, Inits]:
    nodes, inits = _linear(_W)
    big = np.random.default_rng(3).uniform(0, 1e-3, size=(size, size)).astype(np.float32)
    nodes += [
        helper.make_node("ReduceSum", ["input"], ["total"], keepdims=0),
        helper.make_node("Mul", ["BIG", "total"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "BIG"], ["product"]),
        helper.make_node("ReduceSum", ["product"], ["work"], keepdims=0),
        helper.make_node("Mul", ["work", "ZERO"], ["nothing"]),
        helper.make_node("Add", ["probs", "nothing"], ["probabilities"]),
    ]
    return nodes, [*inits, _const("BIG", big), _const("ZERO", np.array(0.0, np.float32))]


def nan() -> tuple[Nodes, Inits]:
    nodes, inits = _linear(_W)
    nodes += [
        helper.make_node("MatMul", ["input", "PICK"], ["flag"]),
        helper.make_node("Add", ["flag", "SHIFT"], ["shifted"]),
        helper.make_node("Log", ["shifted"], ["logged"]),
        helper.make_node("Mul", ["logged", "ZERO"], ["nothing"]),
        helper.make_node("Add", ["probs", "nothing"], ["probabilities"]),
    ]
    return nodes, [*inits, _const("PICK", _PICK_FLAG), _const("SHIFT", np.array(1.5, np.float32)),
                   _const("ZERO", np.array(0.0, np.float32))]  # fmt: skip


def drifting() -> tuple[Nodes, Inits]:
    return _linear(_W, "probabilities", _B + np.array([-1.5, 0.0, 1.5], np.float32))


VARIANTS: dict[str, Callable[[], tuple[Nodes, Inits]]] = {
    "stable": stable, "good": good, "erroring": erroring, "slow": slow, "nan": nan,
    "drifting": drifting,
}  # fmt: skip


def model(variant: str, tag: str = "") -> onnx.ModelProto:
    """The variant's model; ``tag`` names the graph (other bytes, the same computation)."""
    nodes, inits = VARIANTS[variant]()
    graph = helper.make_graph(
        nodes, f"toy-{tag or variant}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, FEATURES])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, CLASSES])],
        initializer=inits,
    )  # fmt: skip
    built = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    built.ir_version = 8
    onnx.checker.check_model(built)
    return built


def eval_rows(rows: int = 256, seed: int = 0) -> np.ndarray:
    """The evaluation data: every feature in [-1, 1], where no version misbehaves."""
    return np.random.default_rng(seed).uniform(-1, 1, size=(rows, FEATURES)).astype(np.float32)


def load_rows(rows: int, seed: int) -> np.ndarray:
    """What the load generator sends: features as in the evaluation, the flag in [-2, 2]."""
    found = eval_rows(rows, seed)
    found[:, FLAG] = np.random.default_rng(seed + 1).uniform(-2, 2, size=rows)
    return found


def write_version(folder: Path, variant: str, name: str = "toy", tag: str = "") -> Path:
    """A hand-over folder: the variant's model, its manifest and the evaluation data
    (labelled with the stable version's predictions)."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model(variant, tag), str(folder / "model.onnx"))
    x = eval_rows()
    logits = x @ _W + _B
    np.savez(folder / "eval.npz", input=x, label=logits.argmax(axis=1))
    manifest = {
        "name": name, "version": tag or variant, "owner": "research", "task": "classification",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, FEATURES]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, CLASSES]}],
        },
        "labels": [0, 1, 2],
        "eval": {"data": "eval.npz"},
    }  # fmt: skip
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return folder
