"""V2 datatype names for numpy arrays, and request defaults."""

from __future__ import annotations

import numpy as np
import pytest

from baton.core.signature import DType
from baton.serve.protocol import NUMPY_DTYPES, InferRequest, InputTensor, v2_datatype


@pytest.mark.parametrize("name", list(NUMPY_DTYPES))
def test_every_datatype_maps_back_to_its_name(name: str) -> None:
    assert v2_datatype(np.zeros(2, NUMPY_DTYPES[name])) == name


def test_text_arrays_are_bytes_and_names_match_the_signature_types() -> None:
    assert v2_datatype(np.array(["a"])) == "BYTES"
    assert {d.v2 for d in DType} == set(NUMPY_DTYPES)
    with pytest.raises(ValueError, match="no V2 datatype"):
        v2_datatype(np.zeros(1, np.complex64))


def test_binary_output_only_when_asked() -> None:
    x = InputTensor("x", "FP32", (1,), np.zeros(1, np.float32))
    assert not InferRequest((x,)).binary_output
    assert InferRequest((x,), parameters={"binary_data_output": True}).binary_output
    assert not InferRequest((x,), parameters={"binary_data_output": "yes"}).binary_output
