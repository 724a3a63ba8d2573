from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from baton.core.signature import DType, Signature, TensorSpec, dims_compatible, signature_mismatches
from baton.errors import BadInput


def sig(
    inputs: list[tuple[str, str, list[int]]], outputs: list[tuple[str, str, list[int]]]
) -> Signature:
    return Signature.model_validate(
        {
            "inputs": [{"name": n, "dtype": d, "shape": s} for n, d, s in inputs],
            "outputs": [{"name": n, "dtype": d, "shape": s} for n, d, s in outputs],
        }
    )


def test_v2_names_round_trip() -> None:
    for dtype in DType:
        assert DType.from_v2(dtype.v2) is dtype
    assert DType.FLOAT32.v2 == "FP32"
    assert DType.STRING.v2 == "BYTES"


def test_unknown_v2_name_lists_the_known_ones() -> None:
    with pytest.raises(BadInput, match="FP32"):
        DType.from_v2("FLOAT")


@pytest.mark.parametrize("shape", [[0, 3], [-2], [4, 0]])
def test_zero_and_negative_dims_are_refused(shape: list[int]) -> None:
    with pytest.raises(ValidationError, match="not allowed"):
        TensorSpec(name="x", dtype=DType.FLOAT32, shape=tuple(shape))


def test_repeated_names_are_refused() -> None:
    with pytest.raises(ValidationError, match="repeat the name"):
        sig([("x", "float32", [1]), ("x", "float32", [1])], [("y", "float32", [1])])


def test_lookup_by_name_names_the_alternatives() -> None:
    s = sig([("pixels", "float32", [-1, 64])], [("probabilities", "float32", [-1, 10])])
    assert s.input("pixels").shape == (-1, 64)
    with pytest.raises(BadInput, match="model's inputs are pixels"):
        s.input("image")


def test_matching_signature_has_no_mismatch() -> None:
    s = sig([("x", "float32", [-1, 64])], [("y", "float32", [-1, 10])])
    assert signature_mismatches(s, s) == []


def test_declared_fixed_size_may_narrow_a_dynamic_dim() -> None:
    declared = sig([("x", "float32", [8, 64])], [("y", "float32", [8, 10])])
    actual = sig([("x", "float32", [-1, 64])], [("y", "float32", [-1, 10])])
    assert signature_mismatches(declared, actual) == []


def test_every_kind_of_mismatch_is_described() -> None:
    declared = sig(
        [("x", "float64", [-1, 64]), ("extra", "float32", [1])],
        [("y", "float32", [-1, 10, 1])],
    )
    actual = sig(
        [("x", "float32", [4, 64]), ("mask", "bool", [-1])],
        [("y", "float32", [-1, 10])],
    )
    problems = signature_mismatches(declared, actual)
    text = " | ".join(problems)
    assert "declared float64 but the model uses float32" in text
    assert "declared [-1, 64] but the model's shape is [4, 64]" in text
    assert "'extra' is not in the model" in text
    assert "mask are not declared" in text
    assert "3 dimensions but the model has 2" in text


@given(st.integers(min_value=-1, max_value=50).filter(lambda d: d != 0))
def test_any_declared_dim_fits_a_dynamic_model_dim(declared: int) -> None:
    assert dims_compatible(declared, -1)


@given(st.integers(1, 50), st.integers(1, 50))
def test_fixed_dims_fit_only_when_equal(declared: int, actual: int) -> None:
    assert dims_compatible(declared, actual) == (declared == actual)
    assert not dims_compatible(-1, actual)


def test_dims_beyond_int64_are_refused() -> None:
    with pytest.raises(ValidationError, match="larger than ONNX allows"):
        TensorSpec(name="x", dtype=DType.FLOAT32, shape=(-1, 2**63))
    assert TensorSpec(name="x", dtype=DType.FLOAT32, shape=(2**63 - 1,)).shape == (2**63 - 1,)
