"""Check that a file is a loadable ONNX model and read its real signature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from pydantic import ValidationError

from baton.core.manifest import describe_validation_error
from baton.core.signature import DType, Signature, TensorSpec
from baton.errors import BadInput

_FIX = "export it again (torch.onnx.export, skl2onnx, tf2onnx) and check the file was copied whole"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_checked(path: Path) -> onnx.ModelProto:
    """Parse and validate with ``onnx.checker``; errors say what is wrong and how to fix it."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise BadInput(f"{path.name} is not an ONNX model ({_first_line(exc)}): {_FIX}") from None
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        raise BadInput(
            f"{path.name} keeps its weights in external data files, which baton does not store "
            "yet: save it as one file (onnx.save(model, path, save_as_external_data=False))"
        )
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise BadInput(f"{path.name} fails the ONNX checker ({_first_line(exc)}): {_FIX}") from None
    return model


def _dtype(elem_type: int, where: str) -> DType:
    if elem_type == onnx.TensorProto.STRING:
        return DType.STRING
    try:
        name = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)).name
        return DType(name)
    except Exception:
        type_name = onnx.TensorProto.DataType.Name(elem_type)
        raise BadInput(f"{where} uses ONNX type {type_name}, which baton cannot serve") from None


def _spec(value: onnx.ValueInfoProto) -> TensorSpec:
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type"):
        raise BadInput(f"{value.name!r} is not a tensor (sequences and maps are not supported)")
    dims = tuple(
        d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else -1 for d in tensor.shape.dim
    )
    return TensorSpec(name=value.name, dtype=_dtype(tensor.elem_type, repr(value.name)), shape=dims)


def onnx_signature(model: onnx.ModelProto) -> Signature:
    """The model's real inputs (initializers excluded) and outputs.

    A model baton cannot describe (no inputs, a 200-character tensor name) is bad input."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = tuple(_served(v, "input") for v in model.graph.input if v.name not in initializers)
    outputs = tuple(_served(v, "output") for v in model.graph.output)
    for side, specs in (("inputs", inputs), ("outputs", outputs)):
        if not specs:
            raise BadInput(
                f"the model has no {side}: baton serves models that take and give tensors"
            )
    try:
        return Signature(inputs=inputs, outputs=outputs)
    except ValidationError as exc:
        raise BadInput(f"the model's signature: {describe_validation_error(exc)}") from None


def _served(value: onnx.ValueInfoProto, side: str) -> TensorSpec:
    try:
        return _spec(value)
    except ValidationError as exc:
        name = value.name if len(value.name) <= 40 else value.name[:37] + "..."
        raise BadInput(
            f"model {side} {name!r} cannot be served: {describe_validation_error(exc)}"
        ) from None


def check_runtime_loads(path: Path) -> None:
    """ONNX Runtime must accept the model (operators, opset) before it is registered."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise BadInput(
            f"ONNX Runtime cannot load {path.name} ({_first_line(exc)}): "
            "export with an opset and operators ONNX Runtime supports"
        ) from None
