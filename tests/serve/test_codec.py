"""The codec: every V2 datatype in JSON and binary form, every malformation, and a fuzzer."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from baton.errors import BadInput
from baton.serve.codec import decode_request, encode_response
from baton.serve.protocol import NUMPY_DTYPES, InferRequest, InferResponse, OutputTensor

NUMERIC = [name for name in NUMPY_DTYPES if name not in ("BYTES",)]


def one(doc: dict[str, Any]) -> np.ndarray:
    (tensor,) = decode_request(orjson.dumps(doc)).inputs
    return tensor.data


def binary_request(arrays: dict[str, tuple[str, np.ndarray, bytes]]) -> tuple[bytes, int]:
    inputs = [
        {
            "name": name,
            "datatype": datatype,
            "shape": list(array.shape),
            "parameters": {"binary_data_size": len(blob)},
        }
        for name, (datatype, array, blob) in arrays.items()
    ]
    head = orjson.dumps({"inputs": inputs})
    return head + b"".join(blob for _, _, blob in arrays.values()), len(head)


@pytest.mark.parametrize("datatype", NUMERIC)
def test_every_numeric_datatype_in_json(datatype: str) -> None:
    values: list[Any] = [True, False, True, True] if datatype == "BOOL" else [0, 1, 2, 3]
    data = one({"inputs": [{"name": "x", "datatype": datatype, "shape": [2, 2], "data": values}]})
    assert data.dtype == NUMPY_DTYPES[datatype]
    assert data.shape == (2, 2)
    assert data.ravel().tolist() == [type(data.ravel()[0].item())(v) for v in values]


@pytest.mark.parametrize("datatype", NUMERIC)
def test_every_numeric_datatype_in_binary(datatype: str) -> None:
    dtype = NUMPY_DTYPES[datatype]
    array = (np.arange(6) % 2).astype(dtype).reshape(2, 3)
    body, n = binary_request({"x": (datatype, array, array.tobytes())})
    (tensor,) = decode_request(body, n).inputs
    np.testing.assert_array_equal(tensor.data, array)
    assert tensor.data.dtype == dtype


def test_bytes_in_json_and_binary() -> None:
    data = one({"inputs": [{"name": "s", "datatype": "BYTES", "shape": [2], "data": ["a", "éb"]}]})
    assert data.tolist() == ["a", "éb"]
    raw = [b"hello", "wörld".encode()]
    blob = b"".join(struct.pack("<I", len(v)) + v for v in raw)
    body, n = binary_request({"s": ("BYTES", np.empty((2,), object), blob)})
    (tensor,) = decode_request(body, n).inputs
    assert tensor.data.tolist() == ["hello", "wörld"]


def test_mixed_json_and_binary_inputs_keep_their_order() -> None:
    a = np.arange(4, dtype="<f4")
    b = np.arange(3, dtype="<i8")
    head = orjson.dumps(
        {
            "id": "x",
            "inputs": [
                {
                    "name": "a",
                    "datatype": "FP32",
                    "shape": [4],
                    "parameters": {"binary_data_size": 16},
                },
                {"name": "j", "datatype": "INT32", "shape": [1], "data": [7]},
                {
                    "name": "b",
                    "datatype": "INT64",
                    "shape": [3],
                    "parameters": {"binary_data_size": 24},
                },
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
            "parameters": {"binary_data_output": False},
        }
    )
    request = decode_request(head + a.tobytes() + b.tobytes(), len(head))
    got = {t.name: t.data for t in request.inputs}
    np.testing.assert_array_equal(got["a"], a)
    np.testing.assert_array_equal(got["b"], b)
    assert got["j"].tolist() == [7]
    assert request.id == "x"
    assert [(o.name, o.binary) for o in request.outputs] == [("y", True), ("z", None)]
    assert request.binary_output is False


MALFORMED = [
    ({"inputs": [{"name": "x", "datatype": "FP8", "shape": [1], "data": [1]}]}, "datatype 'FP8'"),
    # found by the fuzzer: an unhashable datatype raised TypeError (a 500) instead of a 400
    ({"inputs": [{"name": "x", "datatype": [], "shape": [1], "data": [1]}]}, "datatype []"),
    ({"inputs": [{"name": "x", "datatype": {}, "shape": [1], "data": [1]}]}, "datatype {}"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1], "data": [1]}]}, '"shape"'),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": "1", "data": [1]}]}, '"shape"'),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}, 'no "data"'),
    ({"inputs": [{"datatype": "FP32", "shape": [1], "data": [1]}]}, '"name"'),
    ({"inputs": [{"name": "x", "datatype": "INT8", "shape": [1], "data": [300]}]}, "-128..127"),
    ({"inputs": [{"name": "x", "datatype": "UINT8", "shape": [1], "data": [-1]}]}, "0..255"),
    ({"inputs": [{"name": "x", "datatype": "INT32", "shape": [1], "data": [1.5]}]}, "whole"),
    ({"inputs": [{"name": "x", "datatype": "BOOL", "shape": [1], "data": [1]}]}, "true or false"),
    ({"inputs": [{"name": "x", "datatype": "BYTES", "shape": [1], "data": [1]}]}, "strings"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2], "data": [[1], [2, 3]]}]}, "nest"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [None]}]}, "numbers"),
    (
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [1], "data": [1]},
                {"name": "x", "datatype": "FP32", "shape": [1], "data": [1]},
            ]
        },
        "sent twice",
    ),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], "id": 3}, '"id"'),
    (
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}], "outputs": {}},
        "outputs",
    ),
]


@pytest.mark.parametrize(("doc", "says"), MALFORMED)
def test_malformed_json_requests_say_what_is_wrong(doc: dict[str, Any], says: str) -> None:
    with pytest.raises(BadInput, match=None) as info:
        decode_request(orjson.dumps(doc))
    assert says in info.value.message


def test_binary_malformations() -> None:
    head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": [2],
                    "parameters": {"binary_data_size": 8},
                }
            ]
        }
    )
    with pytest.raises(BadInput, match="goes beyond the body"):
        decode_request(head + b"\0" * 4, len(head))
    with pytest.raises(BadInput, match="bytes follow the binary tensors"):
        decode_request(head + b"\0" * 12, len(head))
    short = head.replace(b"8}", b"4}")
    with pytest.raises(BadInput, match="needs 2 x 4 = 8"):
        decode_request(short + b"\0" * 4, len(short))
    with pytest.raises(BadInput, match="Inference-Header-Content-Length is 999"):
        decode_request(head, 999)
    bool_head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "b",
                    "datatype": "BOOL",
                    "shape": [1],
                    "parameters": {"binary_data_size": 1},
                }
            ]
        }
    )
    with pytest.raises(BadInput, match="0 or 1"):
        decode_request(bool_head + b"\x07", len(bool_head))
    bytes_head = orjson.dumps(
        {
            "inputs": [
                {
                    "name": "s",
                    "datatype": "BYTES",
                    "shape": [1],
                    "parameters": {"binary_data_size": 6},
                }
            ]
        }
    )
    with pytest.raises(BadInput, match="longer than the data"):
        decode_request(bytes_head + struct.pack("<I", 9) + b"ab", len(bytes_head))


def test_response_json_and_binary_outputs() -> None:
    probs = np.array([[0.25, 0.75]], np.float32)
    labels = np.array(["cat"], dtype=object)
    body, n = encode_response(
        InferResponse(
            "m",
            "3",
            (OutputTensor("p", probs), OutputTensor("l", labels), OutputTensor("b", probs, True)),
            id="r1",
        )
    )
    assert n is not None
    doc = orjson.loads(body[:n])
    assert doc["model_name"] == "m"
    assert doc["model_version"] == "3"
    assert doc["id"] == "r1"
    p, lab, b = doc["outputs"]
    assert p == {"name": "p", "datatype": "FP32", "shape": [1, 2], "data": [0.25, 0.75]}
    assert lab == {"name": "l", "datatype": "BYTES", "shape": [1], "data": ["cat"]}
    assert b["parameters"] == {"binary_data_size": 8}
    assert np.frombuffer(body[n:], "<f4").tolist() == [0.25, 0.75]
    only_json, none = encode_response(InferResponse("m", "1", (OutputTensor("p", probs),)))
    assert none is None
    assert "id" not in orjson.loads(only_json)


# -- property tests ------------------------------------------------------------------------

SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5)


@st.composite
def tensors(draw: st.DrawFn) -> tuple[str, np.ndarray]:
    datatype = draw(st.sampled_from(NUMERIC))
    dtype = NUMPY_DTYPES[datatype]
    elements = None
    if dtype.kind == "f":
        elements = {"allow_nan": False, "allow_infinity": False}
    array = draw(hnp.arrays(dtype, SHAPES, elements=elements))
    return datatype, array


@given(tensors(), st.booleans())
@settings(max_examples=200, deadline=None)
def test_any_tensor_round_trips_through_json_or_binary(
    tensor: tuple[str, np.ndarray], binary: bool
) -> None:
    datatype, array = tensor
    if binary:
        body, n = binary_request({"t": (datatype, array, array.tobytes())})
        (got,) = decode_request(body, n).inputs
    else:
        data = array.tolist()
        doc = {
            "inputs": [
                {"name": "t", "datatype": datatype, "shape": list(array.shape), "data": data}
            ]
        }
        (got,) = decode_request(orjson.dumps(doc)).inputs
    assert got.shape == array.shape
    assert got.data.dtype == array.dtype
    np.testing.assert_array_equal(got.data, array)


@given(tensors())
@settings(max_examples=100, deadline=None)
def test_outputs_decode_back_to_the_same_values(tensor: tuple[str, np.ndarray]) -> None:
    datatype, array = tensor
    for binary in (False, True):
        body, n = encode_response(InferResponse("m", "1", (OutputTensor("y", array, binary),)))
        doc = orjson.loads(body if n is None else body[:n])
        (out,) = doc["outputs"]
        assert out["shape"] == list(array.shape)
        assert out["datatype"] == datatype
        if binary:
            assert n is not None
            got = np.frombuffer(body[n:], NUMPY_DTYPES[datatype]).reshape(array.shape)
        else:
            got = np.array(out["data"], dtype=NUMPY_DTYPES[datatype]).reshape(array.shape)
        np.testing.assert_array_equal(got, array.astype(got.dtype))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.just("input"), JSON_VALUES),
        "datatype": st.one_of(st.sampled_from([*NUMPY_DTYPES, "FP8"]), JSON_VALUES),
        "shape": st.one_of(st.lists(st.integers(-2, 6), max_size=4), JSON_VALUES),
        "data": JSON_VALUES,
        "parameters": st.one_of(
            st.fixed_dictionaries({"binary_data_size": st.integers(-4, 64)}), JSON_VALUES
        ),
    },
)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "inputs": st.one_of(st.lists(FIELDS, max_size=3), JSON_VALUES),
            "outputs": JSON_VALUES,
            "id": JSON_VALUES,
            "parameters": JSON_VALUES,
        },
    ),
    st.binary(max_size=64),
    st.one_of(st.none(), st.integers(-5, 400)),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_fuzzed_structured_requests_decode_or_say_bad_input(
    doc: dict[str, Any], tail: bytes, header: int | None
) -> None:
    head = json.dumps(doc).encode()  # the standard library writes integers of any size
    body = head + tail
    length = None if header is None else (len(head) if header == 0 else header)
    result = decode_or_error(body, length)
    if isinstance(result, BadInput):
        assert result.message  # one line for the client
        assert "\n" not in result.message
        return
    for tensor in result.inputs:
        assert tensor.data.shape == tensor.shape


@given(st.binary(max_size=300), st.one_of(st.none(), st.integers(-5, 400)))
@settings(max_examples=400, deadline=None)
def test_fuzzed_bytes_never_raise_anything_but_bad_input(body: bytes, header: int | None) -> None:
    result = decode_or_error(body, header)
    assert isinstance(result, InferRequest | BadInput)


def decode_or_error(body: bytes, length: int | None) -> InferRequest | BadInput:
    try:
        return decode_request(body, length)
    except BadInput as exc:
        return exc
