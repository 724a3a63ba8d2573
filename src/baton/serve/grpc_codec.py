"""``ModelInferRequest`` / ``ModelInferResponse`` <-> the data plane's tensors (pure, and
fuzzed: any message gives a request or one ``BadInput`` naming the fix).

Inputs come typed (``contents.<type>_contents``, flattened row-major) or raw
(``raw_input_contents``, one entry per input in order, the binary extension's layout).
Answers mirror the request: raw when it came raw, typed otherwise; always raw when an
output is FP16, which has no typed form (Triton's clients read either).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from baton.errors import BadInput
from baton.serve.codec import from_binary, to_binary
from baton.serve.proto import grpc_v2_pb2 as pb
from baton.serve.protocol import (
    DATATYPES,
    MAX_DIMS,
    NUMPY_DTYPES,
    InferRequest,
    InferResponse,
    InputTensor,
    RequestedOutput,
    v2_datatype,
)

# V2 datatype -> the InferTensorContents field that carries it (FP16: raw only)
TYPED_FIELD = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_FIELDS = tuple(dict.fromkeys(TYPED_FIELD.values()))
# the wire type of the narrow integer fields, to range-check before narrowing
_WIDE = {"int_contents": np.dtype("<i4"), "uint_contents": np.dtype("<u4")}


def decode_infer(message: pb.ModelInferRequest) -> tuple[InferRequest, bool]:
    """The request, and whether it came raw (so the answer goes back raw)."""
    inputs = message.inputs
    if not inputs:
        raise BadInput("the request has no inputs: add one InferInputTensor per model input")
    raw = message.raw_input_contents
    if raw and len(raw) != len(inputs):
        raise BadInput(
            f"{len(raw)} raw_input_contents for {len(inputs)} inputs: send one raw entry per "
            "input, in the inputs' order (or typed contents for every input)"
        )
    tensors: list[InputTensor] = []
    names: set[str] = set()
    for i, tensor in enumerate(inputs):
        decoded = _input(tensor, i, raw[i] if raw else None)
        if decoded.name in names:
            raise BadInput(f"input {decoded.name!r} is sent twice: send each input once")
        names.add(decoded.name)
        tensors.append(decoded)
    outputs = tuple(RequestedOutput(o.name) for o in message.outputs)
    return InferRequest(tuple(tensors), id=message.id or None, outputs=outputs), bool(raw)


def _input(tensor: Any, i: int, raw: bytes | None) -> InputTensor:
    name = tensor.name
    if not name:
        raise BadInput(f"inputs[{i}] needs a name")
    datatype = tensor.datatype
    if datatype not in NUMPY_DTYPES:
        raise BadInput(
            f"input {name!r} has datatype {datatype[:32]!r}: use one of {', '.join(DATATYPES)}"
        )
    shape = tuple(tensor.shape)
    if len(shape) > MAX_DIMS or not all(0 <= d < 2**31 for d in shape):
        raise BadInput(
            f"input {name!r}: shape must have at most {MAX_DIMS} dimensions, each 0 or more, "
            "as in [1, 64]"
        )
    count = math.prod(shape)
    if raw is not None:
        if any(len(getattr(tensor.contents, f)) for f in _FIELDS):
            raise BadInput(
                f"input {name!r} has both contents and raw_input_contents: send one "
                "(raw for every input, or typed for every input)"
            )
        data = _raw(raw, datatype, count, name, i)
    else:
        data = _typed(tensor.contents, datatype, count, name, shape)
    return InputTensor(name, datatype, shape, data.reshape(shape))


def _raw(buf: bytes, datatype: str, count: int, name: str, i: int) -> np.ndarray[Any, Any]:
    if datatype != "BYTES":
        size = NUMPY_DTYPES[datatype].itemsize
        if len(buf) != count * size:
            raise BadInput(
                f"input {name!r}: raw_input_contents[{i}] has {len(buf)} bytes but its shape "
                f"needs {count} x {size} = {count * size} ({datatype}, little-endian)"
            )
    return from_binary(buf, datatype, count, name)


def _typed(
    contents: Any, datatype: str, count: int, name: str, shape: tuple[int, ...]
) -> np.ndarray[Any, Any]:
    if datatype == "FP16":
        raise BadInput(f"input {name!r} is FP16, which has no typed contents: send it raw")
    field = TYPED_FIELD[datatype]
    values = getattr(contents, field)
    if len(values) != count:
        other = next((f for f in _FIELDS if f != field and len(getattr(contents, f))), None)
        if other is not None:
            raise BadInput(f"input {name!r} is {datatype}: send its values in {field}, not {other}")
        raise BadInput(
            f"input {name!r} has {len(values)} values in {field} but shape {list(shape)} "
            f"needs {count}: make the data match the shape"
        )
    if datatype == "BYTES":
        try:
            return np.array([bytes(v).decode("utf-8") for v in values], dtype=object)
        except UnicodeDecodeError:
            raise BadInput(f"input {name!r}: BYTES elements must be UTF-8 text") from None
    target = NUMPY_DTYPES[datatype]
    wide = _WIDE.get(field, target)
    array = np.fromiter(values, dtype=wide, count=count)
    if wide != target and array.size:
        info = np.iinfo(target)
        if int(array.min()) < info.min or int(array.max()) > info.max:
            raise BadInput(
                f"input {name!r}: values must lie in {info.min}..{info.max} for {datatype}"
            )
    return array.astype(target, copy=False)


def encode_infer(response: InferResponse, raw: bool) -> pb.ModelInferResponse:
    """The answer; ``raw`` as the request came (FP16 outputs make it raw regardless)."""
    message = pb.ModelInferResponse(
        model_name=response.model_name,
        model_version=response.model_version,
        id=response.id or "",
    )
    types = [v2_datatype(out.data) for out in response.outputs]
    raw = raw or "FP16" in types
    for out, datatype in zip(response.outputs, types, strict=True):
        array = out.data
        tensor = message.outputs.add(name=out.name, datatype=datatype, shape=array.shape)
        if raw:
            message.raw_output_contents.append(to_binary(array))
        elif datatype == "BYTES":
            tensor.contents.bytes_contents.extend(
                v if isinstance(v, bytes) else str(v).encode("utf-8") for v in array.ravel()
            )
        else:
            getattr(tensor.contents, TYPED_FIELD[datatype]).extend(array.ravel().tolist())
    return message
