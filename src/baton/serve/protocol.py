"""Open Inference Protocol (KServe V2) shapes: datatypes, requests, responses (pure).

Tensors travel as numpy arrays between the codec, the data plane and the batcher; these
plain dataclasses carry no validation logic of their own, so the hot path stays cheap (not
frozen: a frozen one's ``__init__`` sets each field through ``object.__setattr__``, about
0.5 µs more per object, and a request makes five of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pydantic import JsonValue

# V2 datatype -> numpy dtype, little-endian as the binary extension requires. BYTES
# elements are Python ``str`` in an object array (what ONNX Runtime takes for strings).
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
DATATYPES = tuple(NUMPY_DTYPES)
MAX_DIMS = 32

# The HTTP header that gives the JSON part's length when binary tensors follow it.
HEADER_LENGTH = "inference-header-content-length"


def v2_datatype(array: np.ndarray[Any, Any]) -> str:
    """The V2 datatype name of a numpy array (object and text arrays are BYTES)."""
    found = _BY_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if found is not None:
        return found
    if array.dtype.kind in "OUS":
        return "BYTES"
    raise ValueError(f"no V2 datatype for numpy {array.dtype}")


_BY_KIND = {(d.kind, d.itemsize): name for name, d in NUMPY_DTYPES.items() if d.kind != "O"}


@dataclass(slots=True)
class InputTensor:
    name: str
    datatype: str
    shape: tuple[int, ...]
    data: np.ndarray[Any, Any]


@dataclass(slots=True)
class RequestedOutput:
    name: str
    binary: bool | None = None  # None: follow the request's ``binary_data_output``


@dataclass(slots=True)
class InferRequest:
    inputs: tuple[InputTensor, ...]
    id: str | None = None
    outputs: tuple[RequestedOutput, ...] = ()
    parameters: dict[str, JsonValue] = field(default_factory=dict)  # the request's, as sent

    @property
    def binary_output(self) -> bool:
        return self.parameters.get("binary_data_output") is True


@dataclass(slots=True)
class OutputTensor:
    name: str
    data: np.ndarray[Any, Any]
    binary: bool = False


@dataclass(slots=True)
class InferResponse:
    model_name: str
    model_version: str
    outputs: tuple[OutputTensor, ...]
    id: str | None = None
    parameters: dict[str, JsonValue] = field(default_factory=dict)
