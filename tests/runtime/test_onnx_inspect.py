from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from baton.core.signature import DType
from baton.errors import BadInput
from baton.runtime.mlp import random_mlp
from baton.runtime.onnx_inspect import check_runtime_loads, load_checked, onnx_signature


def identity_model(elem: int, shape: list[int | str]) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", elem, shape)],
        [helper.make_tensor_value_info("y", elem, shape)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.mark.parametrize(
    ("elem", "dtype"),
    [
        (TensorProto.FLOAT, DType.FLOAT32),
        (TensorProto.DOUBLE, DType.FLOAT64),
        (TensorProto.FLOAT16, DType.FLOAT16),
        (TensorProto.INT8, DType.INT8),
        (TensorProto.INT64, DType.INT64),
        (TensorProto.UINT8, DType.UINT8),
        (TensorProto.BOOL, DType.BOOL),
        (TensorProto.STRING, DType.STRING),
    ],
)
def test_dtypes_are_read(elem: int, dtype: DType) -> None:
    sig = onnx_signature(identity_model(elem, ["batch", 3]))
    assert sig.inputs[0].dtype is dtype
    assert sig.inputs[0].shape == (-1, 3)


def test_initializers_are_not_inputs() -> None:
    model = random_mlp([4, 8, 3])
    model.graph.input.extend([helper.make_tensor_value_info("W0", TensorProto.FLOAT, [4, 8])])
    sig = onnx_signature(model)
    assert [s.name for s in sig.inputs] == ["input"]
    assert sig.outputs[0].shape == (-1, 3)


def test_unsupported_element_type_is_named() -> None:
    with pytest.raises(BadInput, match="COMPLEX64"):
        onnx_signature(identity_model(TensorProto.COMPLEX64, [1]))


def test_external_data_is_refused_with_the_fix(tmp_path: Path) -> None:
    model = random_mlp([4, 256, 3])
    onnx.save(model, str(tmp_path / "m.onnx"), save_as_external_data=True, size_threshold=0)
    with pytest.raises(BadInput, match="save_as_external_data=False"):
        load_checked(tmp_path / "m.onnx")


def test_runtime_refusal_is_reported(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["x"], ["y"], domain="example.custom")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("example.custom", 1)]
    )
    model.ir_version = 8
    path = tmp_path / "custom.onnx"
    onnx.save(model, str(path))
    load_checked(path)  # the checker allows custom domains
    with pytest.raises(BadInput, match="ONNX Runtime cannot load custom.onnx"):
        check_runtime_loads(path)


def constant_model() -> onnx.ModelProto:
    """A valid ONNX graph that takes nothing: one constant output."""
    value = helper.make_tensor("v", TensorProto.FLOAT, [1, 3], [0.1, 0.2, 0.7])
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["y"], value=value)],
        "g",
        [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_model_without_inputs_is_bad_input_not_a_crash() -> None:
    with pytest.raises(BadInput, match="the model has no inputs"):
        onnx_signature(constant_model())


def test_a_tensor_name_too_long_to_serve_is_bad_input() -> None:
    name = "x" * 200
    with pytest.raises(
        BadInput, match="model input 'xxx.*' cannot be served: name: String"
    ) as info:
        onnx_signature(_renamed(identity_model(TensorProto.FLOAT, [1]), name))
    assert len(info.value.message) < 300


def _renamed(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    model.graph.input[0].name = name
    model.graph.node[0].input[0] = name
    return model
