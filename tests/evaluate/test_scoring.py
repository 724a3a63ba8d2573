"""Which output the gate scores, how many classes it has, and where ranges come from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from baton.core.manifest import Manifest
from baton.errors import BadInput
from baton.evaluate.scoring import (
    class_indices,
    class_scores,
    classes_of,
    reference_range_for,
    scored_output,
)


def manifest(outputs: list[dict[str, Any]], **extra: Any) -> Manifest:
    return Manifest.model_validate(
        {
            "name": "m",
            "owner": "t",
            "model": "model.onnx",
            "task": "classification",
            "signature": {
                "inputs": [{"name": "x", "dtype": "float32", "shape": [-1, 4]}],
                "outputs": outputs,
            },
            **extra,
        }
    )


def test_a_classifier_is_scored_on_its_float_output() -> None:
    m = manifest(
        [
            {"name": "label", "dtype": "int64", "shape": [-1]},
            {"name": "proba", "dtype": "float32", "shape": [-1, 3]},
        ]
    )
    assert scored_output(m).name == "proba" and classes_of(m) == 3


def test_classes_from_shape_labels_or_a_single_score() -> None:
    assert classes_of(manifest([{"name": "p", "dtype": "float32", "shape": [-1, 1]}])) == 2
    dynamic = manifest(
        [{"name": "p", "dtype": "float32", "shape": [-1, -1]}], labels=["a", "b", "c", "d"]
    )
    assert classes_of(dynamic) == 4
    assert classes_of(manifest([{"name": "p", "dtype": "float32", "shape": [-1, -1]}])) is None


def test_a_single_score_becomes_two_class_scores() -> None:
    p = np.array([0.2, 0.9], np.float32)
    np.testing.assert_allclose(
        class_scores("classification", p), [[0.8, 0.2], [0.1, 0.9]], rtol=1e-6
    )
    np.testing.assert_allclose(
        class_scores("classification", p[:, None]), [[0.8, 0.2], [0.1, 0.9]], rtol=1e-6
    )
    assert class_scores("regression", p) is p


def test_reference_range_precedence() -> None:
    ref, truth, base = np.array([1.0]), np.array([2.0]), np.array([3.0])
    outputs = {"candidate": base, "baseline": base}
    assert reference_range_for("regression", ref, truth, None, outputs)[1] is ref
    assert reference_range_for("regression", None, truth, None, outputs)[1] is truth
    assert reference_range_for("classification", None, truth, None, outputs) == ("", None)


def test_class_indices_from_names_or_numbers_and_unknown_labels() -> None:
    names = ["cat", "dog"]
    assert class_indices(np.array(["dog", "cat"]), names, 2, "e").tolist() == [1, 0]
    assert class_indices(np.array([1.0, 0.0]), names, 2, "e").tolist() == [1, 0]
    with pytest.raises(BadInput, match="labels the model does not know: cow"):
        class_indices(np.array(["cow"]), names, 2, "e")
    with pytest.raises(BadInput, match="labels the model does not know: 7 \\(it has 2 classes"):
        class_indices(np.array([0, 7]), names, 2, "e")
    with pytest.raises(BadInput, match="fractional"):
        class_indices(np.array([0.5]), names, 2, "e")


@given(
    hnp.arrays(
        st.sampled_from(["int8", "int16", "int32", "int64", "uint8", "uint32", "uint64", "bool"]),
        st.integers(1, 40),
    ),
    st.integers(1, 300),
)
@example(np.array([-1], np.int8), 256)  # -1 seen as unsigned is 255: a class of 256
def test_integer_labels_are_refused_exactly_when_one_is_not_a_class(
    labels: np.ndarray, classes: int
) -> None:
    """The range check reads integer labels once, as unsigned: a negative label must still
    be refused, and every label in 0..classes-1 accepted."""
    as_int = labels.astype(np.int64) if labels.dtype != np.uint64 else labels.astype(object)
    outside = bool(((as_int < 0) | (as_int >= classes)).any())
    if outside:
        with pytest.raises(BadInput, match="labels the model does not know"):
            class_indices(labels, None, classes, "e")
    else:
        assert class_indices(labels, None, classes, "e").tolist() == as_int.tolist()


def test_a_target_with_more_than_one_value_per_row_is_refused() -> None:
    """A one-hot target crashed scikit-learn; a column vector skewed the confusion matrix."""
    for target in (np.eye(3, dtype=np.int64), np.zeros((3, 1), np.int64)):
        with pytest.raises(BadInput, match=r"the target has shape \[3, .\]; a classifier's"):
            class_indices(target, None, 3, "e")
