"""V2 request and response bodies <-> numpy (pure, and fuzzed: any bytes give a request
or a ``BadInput`` naming what is wrong, never another exception).

JSON tensors may be flat or nested; binary tensors (the binary data extension) follow the
JSON part, in the order the tensors appear, each ``parameters.binary_data_size`` long.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from baton.errors import BadInput
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

if TYPE_CHECKING:
    from pydantic import JsonValue

_INT_RANGES = {
    name: (int(np.iinfo(dt).min), int(np.iinfo(dt).max))
    for name, dt in NUMPY_DTYPES.items()
    if dt.kind in "iu"
}
_LENGTH = struct.Struct("<I")


def decode_request(body: bytes, json_length: int | None = None) -> InferRequest:
    """Parse an infer request; ``json_length`` is the Inference-Header-Content-Length."""
    if json_length is None:
        head, tail = body, b""
    else:
        if json_length < 0 or json_length > len(body):
            raise BadInput(
                f"Inference-Header-Content-Length is {json_length} but the body has "
                f"{len(body)} bytes: send the JSON part's length in bytes"
            )
        head, tail = body[:json_length], body[json_length:]
    try:
        doc = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise BadInput(
            f"request body is not valid JSON ({exc}); NaN and Infinity are not JSON"
        ) from None
    if not isinstance(doc, dict):
        raise BadInput('request body must be a JSON object with "inputs"')
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise BadInput('"inputs" must be a non-empty list of tensors')
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadInput('"id" must be a string')
    parameters = _parameters(doc.get("parameters"), "request")
    inputs: list[InputTensor] = []
    offset = 0
    names: set[str] = set()
    for i, raw in enumerate(raw_inputs):
        tensor, used = _input(raw, i, tail, offset)
        if tensor.name in names:
            raise BadInput(f"input {tensor.name!r} is sent twice: send each input once")
        names.add(tensor.name)
        inputs.append(tensor)
        offset += used
    if offset != len(tail):
        raise BadInput(
            f"{len(tail) - offset} bytes follow the binary tensors: each input's "
            "binary_data_size must add up to the bytes after the JSON part"
        )
    return InferRequest(
        inputs=tuple(inputs),
        id=request_id,
        outputs=_requested_outputs(doc.get("outputs")),
        parameters=parameters,
    )


def _parameters(value: Any, where: str) -> dict[str, JsonValue]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f'"parameters" of the {where} must be a JSON object')
    return value


def _requested_outputs(value: Any) -> tuple[RequestedOutput, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadInput('"outputs" must be a list of {"name": ...} objects')
    out: list[RequestedOutput] = []
    for i, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise BadInput(f'outputs[{i}] must be an object with a string "name"')
        params = _parameters(raw.get("parameters"), f"output {raw['name']!r}")
        binary = params.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise BadInput(f"outputs[{i}].parameters.binary_data must be true or false")
        out.append(RequestedOutput(raw["name"], binary))
    return tuple(out)


def _input(raw: Any, i: int, tail: bytes, offset: int) -> tuple[InputTensor, int]:
    if not isinstance(raw, dict):
        raise BadInput(f"inputs[{i}] must be an object with name, datatype, shape and data")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise BadInput(f'inputs[{i}] needs a "name" (a non-empty string)')
    datatype = raw.get("datatype")
    if not isinstance(datatype, str) or datatype not in NUMPY_DTYPES:  # [] is unhashable
        raise BadInput(
            f"input {name!r} has datatype {datatype!r}: use one of {', '.join(DATATYPES)}"
        )
    shape = _shape(raw.get("shape"), name)
    count = math.prod(shape)
    params = _parameters(raw.get("parameters"), f"input {name!r}")
    size = params.get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0:
            raise BadInput(f"input {name!r}: binary_data_size must be a whole number of bytes")
        if "data" in raw:
            raise BadInput(f"input {name!r} has both data and binary_data_size: send one")
        if offset + size > len(tail):
            raise BadInput(
                f"input {name!r}: binary_data_size {size} goes beyond the body "
                f"({len(tail) - offset} bytes left after the JSON part)"
            )
        data = from_binary(tail[offset : offset + size], datatype, count, name)
        return InputTensor(name, datatype, shape, data.reshape(shape)), size
    if "data" not in raw:
        raise BadInput(f'input {name!r} has no "data" (nor parameters.binary_data_size)')
    data = _from_json(raw["data"], datatype, name)
    if data.size != count:
        raise BadInput(
            f"input {name!r} has {data.size} values but shape {list(shape)} needs {count}: "
            "make the data match the shape"
        )
    return InputTensor(name, datatype, shape, data.reshape(shape)), 0


def _shape(value: Any, name: str) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or len(value) > MAX_DIMS
        or not all(type(d) is int and 0 <= d < 2**31 for d in value)
    ):
        raise BadInput(
            f'input {name!r}: "shape" must be a list of at most {MAX_DIMS} whole numbers >= 0, '
            "as in [1, 64]"
        )
    return tuple(value)


def _from_json(data: Any, datatype: str, name: str) -> np.ndarray[Any, Any]:
    if not isinstance(data, list):
        data = [data]
    if datatype == "BYTES":
        flat = _flatten(data, name)
        if not all(isinstance(v, str) for v in flat):
            raise BadInput(f"input {name!r} is BYTES: its data must be strings")
        return np.array(flat, dtype=object)
    try:
        array = np.array(data)
    except (ValueError, OverflowError, TypeError, RecursionError):
        raise BadInput(
            f"input {name!r}: data must be numbers in a flat list or evenly nested lists"
        ) from None
    kind = array.dtype.kind
    if datatype == "BOOL":
        if kind != "b" and array.size:
            raise BadInput(f"input {name!r} is BOOL: its data must be true or false")
        return array.astype(np.bool_).ravel()
    target = NUMPY_DTYPES[datatype]
    if target.kind == "f":
        if kind not in "iuf" and array.size:
            raise BadInput(f"input {name!r} is {datatype}: its data must be numbers")
        with np.errstate(over="ignore"):
            return array.astype(target).ravel()
    low, high = _INT_RANGES[datatype]
    if kind not in "iu" and array.size:
        # numpy turns integers beyond int64 into float64 or objects: check them exactly
        flat = _flatten(data, name) if kind in "fO" else [None]
        if not all(type(v) is int for v in flat):
            raise BadInput(f"input {name!r} is {datatype}: its data must be whole numbers")
        if min(flat) < low or max(flat) > high:
            raise BadInput(f"input {name!r}: values must lie in {low}..{high} for {datatype}")
        return np.array(flat, dtype=target)
    if array.size and (int(array.min()) < low or int(array.max()) > high):
        raise BadInput(f"input {name!r}: values must lie in {low}..{high} for {datatype}")
    return array.astype(target).ravel()


def _flatten(data: list[Any], name: str) -> list[Any]:
    if not any(isinstance(v, list) for v in data):
        return data
    try:
        array = np.array(data, dtype=object)
    except (ValueError, RecursionError):
        raise BadInput(f"input {name!r}: nested data must be evenly nested lists") from None
    flat = list(array.ravel())
    if any(isinstance(v, list) for v in flat):
        raise BadInput(f"input {name!r}: nested data must be evenly nested lists")
    return flat


def from_binary(buf: bytes, datatype: str, count: int, name: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        return _bytes_elements(buf, count, name)
    dtype = NUMPY_DTYPES[datatype]
    if len(buf) != count * dtype.itemsize:
        raise BadInput(
            f"input {name!r}: binary_data_size is {len(buf)} bytes but its shape needs "
            f"{count} x {dtype.itemsize} = {count * dtype.itemsize}"
        )
    if datatype == "BOOL":
        raw = np.frombuffer(buf, dtype=np.uint8)
        if raw.size and int(raw.max()) > 1:
            raise BadInput(f"input {name!r} is BOOL: each byte must be 0 or 1")
        return raw.view(np.bool_)
    return np.frombuffer(buf, dtype=dtype)


def _bytes_elements(buf: bytes, count: int, name: str) -> np.ndarray[Any, Any]:
    out: list[str] = []
    pos = 0
    for _ in range(count):
        if pos + 4 > len(buf):
            raise BadInput(f"input {name!r}: BYTES data ends inside an element's length prefix")
        (length,) = _LENGTH.unpack_from(buf, pos)
        pos += 4
        if pos + length > len(buf):
            raise BadInput(f"input {name!r}: a BYTES element is longer than the data sent")
        try:
            out.append(buf[pos : pos + length].decode("utf-8"))
        except UnicodeDecodeError:
            raise BadInput(f"input {name!r}: BYTES elements must be UTF-8 text") from None
        pos += length
    if pos != len(buf):
        raise BadInput(
            f"input {name!r}: {len(buf) - pos} bytes are left after its {count} BYTES elements"
        )
    return np.array(out, dtype=object)


# -- responses -----------------------------------------------------------------------------


def encode_response(response: InferResponse) -> tuple[bytes, int | None]:
    """The response body, and the JSON part's length when binary outputs follow it."""
    outputs: list[dict[str, object]] = []
    blobs: list[bytes] = []
    for out in response.outputs:
        array = out.data
        entry: dict[str, object] = {
            "name": out.name,
            "datatype": v2_datatype(array),
            "shape": list(array.shape),
        }
        if out.binary:
            blob = to_binary(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _to_json_data(array)
        outputs.append(entry)
    doc: dict[str, object] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    }
    if response.id is not None:
        doc["id"] = response.id
    if response.parameters:
        doc["parameters"] = response.parameters
    head = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)


def _to_json_data(array: np.ndarray[Any, Any]) -> Any:
    flat = array.ravel()
    if flat.dtype.kind in "OUS":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    if flat.dtype == np.float16:
        return flat.astype(np.float32)
    if flat.dtype.kind == "f" and not np.isfinite(flat).all():
        # JSON has no NaN: such values travel as null (ask for binary output to keep them)
        return [None if not math.isfinite(v) else v for v in flat.tolist()]
    return np.ascontiguousarray(flat)


def to_binary(array: np.ndarray[Any, Any]) -> bytes:
    if array.dtype.kind in "OUS":
        parts: list[bytes] = []
        for v in array.ravel():
            raw = v if isinstance(v, bytes) else str(v).encode("utf-8")
            parts.append(_LENGTH.pack(len(raw)))
            parts.append(raw)
        return b"".join(parts)
    target = NUMPY_DTYPES[v2_datatype(array)]
    return np.ascontiguousarray(array, dtype=target).tobytes()


def encode_error(message: str) -> bytes:
    return orjson.dumps({"error": message})


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
