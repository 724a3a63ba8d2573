from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from baton.core.manifest import parse_manifest
from baton.evaluate import drift_reference as module
from baton.evaluate.datasets import EvalData


def test_reference_covers_every_input_element_and_output(digits_source: Path) -> None:
    manifest = parse_manifest(yaml.safe_load((digits_source / "baton.yaml").read_text()))
    data = EvalData(digits_source / "eval.npz", "eval.npz", manifest.signature, "label")
    rows = data.rows
    probabilities = np.random.default_rng(0).dirichlet(np.ones(10), size=rows).astype(np.float32)
    stored = module.drift_reference(manifest, data, {"probabilities": probabilities})
    assert stored.inputs is not None and stored.outputs is not None
    inputs, outputs = stored.inputs.reference(), stored.outputs.reference()
    assert [f.name for f in inputs.features] == [f"input[{i}]" for i in range(64)]
    assert [f.name for f in outputs.features] == [f"probabilities[{i}]" for i in range(10)]
    assert inputs.rows == outputs.rows == rows
    for feature in (*inputs.features, *outputs.features):
        assert abs(sum(feature.shares) - 1) < 1e-9


def test_only_the_first_rows_are_summarised(digits_source: Path) -> None:
    manifest = parse_manifest(yaml.safe_load((digits_source / "baton.yaml").read_text()))
    data = EvalData(digits_source / "eval.npz", "eval.npz", manifest.signature, "label")
    outputs = {"probabilities": np.zeros((450, 10))}
    stored = module.drift_reference(manifest, data, outputs, max_rows=100)
    assert stored.inputs is not None and stored.inputs.rows == 100
    assert stored.outputs is not None and stored.outputs.rows == 100
