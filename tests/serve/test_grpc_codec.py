"""ModelInferRequest / ModelInferResponse <-> tensors: every datatype typed and raw, each
mistake named, and fuzzing: any message decodes or fails with one BadInput."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.errors import BadInput
from baton.serve.grpc_codec import TYPED_FIELD, decode_infer, encode_infer
from baton.serve.proto import grpc_v2_pb2 as pb
from baton.serve.protocol import DATATYPES, NUMPY_DTYPES, InferResponse, OutputTensor

VALUES: dict[str, list[Any]] = {
    "BOOL": [True, False, False, True],
    "BYTES": ["a", "bé", "", "cat"],
    "FP16": [0.5, -1.0, 2.0, 1024.0],
    "FP32": [0.25, -1.5, 3.0, 1e10],
    "FP64": [0.1, -2.5, 1e300, 7.0],
    "INT8": [-128, 0, 1, 127],
    "UINT8": [0, 1, 2, 255],
    "INT64": [-(2**63), 0, 1, 2**63 - 1],
    "UINT64": [0, 1, 2, 2**64 - 1],
}


def values(datatype: str) -> list[Any]:
    return VALUES.get(datatype, [0, 1, 2, 100])


def array(datatype: str) -> np.ndarray[Any, Any]:
    if datatype == "BYTES":
        return np.array(values(datatype), dtype=object).reshape(2, 2)
    return np.array(values(datatype), NUMPY_DTYPES[datatype]).reshape(2, 2)


def raw_bytes(datatype: str) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values(datatype))
    return array(datatype).tobytes()


def typed_request(datatype: str) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", id="r1")
    tensor = message.inputs.add(name="x", datatype=datatype, shape=[2, 2])
    field = getattr(tensor.contents, TYPED_FIELD[datatype])
    field.extend(v.encode() for v in values(datatype)) if datatype == "BYTES" else field.extend(
        values(datatype)
    )
    return message


@pytest.mark.parametrize("datatype", [t for t in DATATYPES if t != "FP16"])
def test_every_typed_datatype_decodes_to_its_numpy_type(datatype: str) -> None:
    request, raw = decode_infer(typed_request(datatype))
    assert raw is False
    assert request.id == "r1"
    (tensor,) = request.inputs
    assert tensor.shape == (2, 2)
    assert tensor.data.dtype == NUMPY_DTYPES[datatype]
    if datatype in ("FP32",):
        np.testing.assert_allclose(tensor.data, array(datatype))
    else:
        assert tensor.data.tolist() == array(datatype).tolist()


@pytest.mark.parametrize("datatype", DATATYPES)
def test_every_raw_datatype_decodes_and_encodes_back_to_the_same_bytes(datatype: str) -> None:
    message = pb.ModelInferRequest(model_name="m", raw_input_contents=[raw_bytes(datatype)])
    message.inputs.add(name="x", datatype=datatype, shape=[2, 2])
    request, raw = decode_infer(message)
    assert raw is True
    data = request.inputs[0].data
    assert data.tolist() == array(datatype).tolist()
    answer = encode_infer(InferResponse("m", "1", (OutputTensor("y", data),)), raw=True)
    assert answer.raw_output_contents == [raw_bytes(datatype)]
    assert answer.outputs[0].datatype == datatype
    assert list(answer.outputs[0].shape) == [2, 2]


@pytest.mark.parametrize("datatype", [t for t in DATATYPES if t != "FP16"])
def test_typed_answers_carry_values_in_the_datatypes_field(datatype: str) -> None:
    answer = encode_infer(InferResponse("m", "1", (OutputTensor("y", array(datatype)),)), False)
    assert not answer.raw_output_contents
    got = list(getattr(answer.outputs[0].contents, TYPED_FIELD[datatype]))
    want = [v.encode() for v in values(datatype)] if datatype == "BYTES" else values(datatype)
    if datatype == "FP32":
        np.testing.assert_allclose(got, want)
    else:
        assert got == want


def test_an_fp16_output_makes_the_whole_answer_raw() -> None:
    outputs = (OutputTensor("a", array("FP32")), OutputTensor("b", array("FP16")))
    answer = encode_infer(InferResponse("m", "1", outputs, id="q"), raw=False)
    assert answer.id == "q"
    assert answer.raw_output_contents == [raw_bytes("FP32"), raw_bytes("FP16")]


def _raw(*tensors: tuple[str, str, list[int]], blobs: list[bytes]) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", raw_input_contents=blobs)
    for name, datatype, shape in tensors:
        message.inputs.add(name=name, datatype=datatype, shape=shape)
    return message


def _mistakes() -> list[tuple[pb.ModelInferRequest, str]]:
    wrong_field = pb.ModelInferRequest(model_name="m")
    wrong_field.inputs.add(name="x", datatype="FP32", shape=[2]).contents.fp64_contents.extend(
        [1.0, 2.0]
    )
    short = pb.ModelInferRequest(model_name="m")
    short.inputs.add(name="x", datatype="INT32", shape=[2, 2]).contents.int_contents.extend([1])
    wide = pb.ModelInferRequest(model_name="m")
    wide.inputs.add(name="x", datatype="INT8", shape=[1]).contents.int_contents.append(300)
    fp16 = pb.ModelInferRequest(model_name="m")
    fp16.inputs.add(name="x", datatype="FP16", shape=[1])
    text = pb.ModelInferRequest(model_name="m")
    text.inputs.add(name="x", datatype="BYTES", shape=[1]).contents.bytes_contents.append(b"\xff")
    both = _raw(("x", "FP32", [1]), blobs=[b"\0" * 4])
    both.inputs[0].contents.fp32_contents.append(1.0)
    twice = _raw(("x", "FP32", [1]), ("x", "FP32", [1]), blobs=[b"\0" * 4, b"\0" * 4])
    return [
        (pb.ModelInferRequest(model_name="m"), "no inputs"),
        (_raw(("x", "FP33", [1]), blobs=[b""]), "use one of BOOL"),
        (_raw(("", "FP32", [1]), blobs=[b"\0" * 4]), r"inputs\[0\] needs a name"),
        (_raw(("x", "FP32", [2, 2]), blobs=[b"\0" * 12]), r"raw_input_contents\[0\] has 12 bytes"),
        (_raw(("x", "FP32", [1]), ("y", "FP32", [1]), blobs=[b"\0" * 4]), "1 raw_input_contents"),
        (_raw(("x", "FP32", [-1]), blobs=[b""]), "shape must have"),
        (_raw(("x", "BYTES", [1]), blobs=[b"\x09\0\0\0ab"]), "longer than the data"),
        (wrong_field, "send its values in fp32_contents, not fp64_contents"),
        (short, r"1 values in int_contents but shape \[2, 2\] needs 4"),
        (wide, r"-128..127 for INT8"),
        (fp16, "FP16, which has no typed contents"),
        (text, "UTF-8"),
        (both, "both contents and raw_input_contents"),
        (twice, "sent twice"),
    ]


@pytest.mark.parametrize(("message", "match"), _mistakes())
def test_each_mistake_is_one_line_naming_the_fix(message: pb.ModelInferRequest, match: str) -> None:
    with pytest.raises(BadInput, match=match):
        decode_infer(message)


tensor_strategy = st.builds(
    dict,
    name=st.sampled_from(["x", "y", ""]),
    datatype=st.sampled_from([*DATATYPES, "FP8", ""]),
    shape=st.lists(st.integers(-2, 5), max_size=4),
    ints=st.lists(st.integers(-(2**31), 2**31 - 1), max_size=8),
    floats=st.lists(st.floats(width=32), max_size=8),
    blobs=st.lists(st.binary(max_size=32), max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(tensors=st.lists(tensor_strategy, max_size=3), raw=st.lists(st.binary(max_size=40)))
def test_any_message_decodes_or_fails_with_bad_input(
    tensors: list[dict[str, Any]], raw: list[bytes]
) -> None:
    message = pb.ModelInferRequest(model_name="m", raw_input_contents=raw)
    for t in tensors:
        tensor = message.inputs.add(name=t["name"], datatype=t["datatype"], shape=t["shape"])
        tensor.contents.int_contents.extend(t["ints"])
        tensor.contents.fp32_contents.extend(t["floats"])
        tensor.contents.bytes_contents.extend(t["blobs"])
    try:
        request, _ = decode_infer(message)
    except BadInput as exc:
        problem = exc.message
    else:
        problem = ""
    assert "\n" not in problem
    if problem:
        return
    for tensor in request.inputs:
        assert tensor.data.shape == tensor.shape


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_fail_cleanly(blob: bytes) -> None:
    """What the service does with the bytes of a call: parse, then decode."""
    try:
        message = pb.ModelInferRequest.FromString(blob)
    except DecodeError:
        return
    with contextlib.suppress(BadInput):
        decode_infer(message)
