from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from baton.runtime.mlp import mlp_onnx, random_mlp


def run(model: object, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])  # type: ignore[attr-defined]
    return np.asarray(session.run(None, {"input": x})[0])


@given(st.integers(1, 16), st.integers(0, 1000))
@settings(max_examples=15, deadline=None)
def test_onnx_mlp_computes_what_numpy_computes(batch: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = [rng.normal(size=(5, 7)).astype(np.float32), rng.normal(size=(7, 3)).astype(np.float32)]
    b = [rng.normal(size=7).astype(np.float32), rng.normal(size=3).astype(np.float32)]
    x = rng.normal(size=(batch, 5)).astype(np.float32)
    hidden = np.maximum(x @ w[0] + b[0], 0)
    logits = hidden @ w[1] + b[1]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(run(mlp_onnx(w, b), x), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        run(mlp_onnx(w, b, head="identity"), x), logits, rtol=1e-4, atol=1e-4
    )


def test_random_mlp_has_a_dynamic_batch() -> None:
    model = random_mlp([64, 32, 10], seed=1)
    for batch in (1, 7, 64):
        out = run(model, np.zeros((batch, 64), np.float32))
        assert out.shape == (batch, 10)
        np.testing.assert_allclose(out.sum(1), 1, rtol=1e-5)


def test_layers_must_pair_up() -> None:
    with pytest.raises(ValueError, match="one bias per weight"):
        mlp_onnx([np.zeros((2, 2))], [])
