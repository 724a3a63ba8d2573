"""Build real hand-over folders for tests: distinct ONNX models with matching manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml

from baton.runtime.mlp import random_mlp


def write_handover(
    folder: Path,
    *,
    name: str = "toy",
    seed: int = 0,
    owner: str = "research",
    inputs: int = 4,
    classes: int = 3,
    hidden: tuple[int, ...] = (8,),
    **extra: Any,
) -> Path:
    """An MLP classifier with random weights (``seed`` makes distinct bytes).

    The default is tiny (4 in, 3 classes); wide ``hidden`` layers (1024, 1024) make a model
    slow enough to breach a latency SLO or keep a server busy.
    """
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(random_mlp([inputs, *hidden, classes], seed=seed), str(folder / "model.onnx"))
    rng = np.random.default_rng(seed)
    np.savez(
        folder / "eval.npz",
        input=rng.normal(size=(32, inputs)).astype(np.float32),
        label=rng.integers(0, classes, 32),
    )
    manifest: dict[str, Any] = {
        "name": name,
        "owner": owner,
        "task": "classification",
        "model": "model.onnx",
        "signature": {
            "inputs": [{"name": "input", "dtype": "float32", "shape": [-1, inputs]}],
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": [-1, classes]}],
        },
        "eval": {"data": "eval.npz"},
    }
    manifest.update(extra)
    (folder / "baton.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    return folder
