"""Build real hand-over folders for tests: distinct ONNX models with matching manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml

from baton.runtime.mlp import random_mlp


def write_handover(
    folder: Path, *, name: str = "toy", seed: int = 0, owner: str = "research", **extra: Any
) -> Path:
    """A 4-in, 3-class MLP with random weights (``seed`` makes distinct bytes)."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(random_mlp([4, 8, 3], seed=seed), str(folder / "model.onnx"))
    rng = np.random.default_rng(seed)
    np.savez(
        folder / "eval.npz",
        input=rng.normal(size=(32, 4)).astype(np.float32),
        label=rng.integers(0, 3, 32),
    )
    manifest: dict[str, Any] = {
        "name": name,
        "owner": owner,
        "task": "classification",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, 4]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, 3]}],
        },
        "eval": {"data": "eval.npz"},
    }
    manifest.update(extra)
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return folder
