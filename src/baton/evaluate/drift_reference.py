"""The drift reference: how the eval data's inputs, and the model's outputs on it, are
distributed, stored with the evaluation so the server can tell when traffic moves away.

At most ``MAX_ROWS`` rows are summarised: decile bins are stable long before that.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from baton.core.drift import build_reference, feature_matrix
from baton.core.evaluation import DriftReferences, ReferenceBins
from baton.core.manifest import Manifest
from baton.evaluate.datasets import EvalData

MAX_ROWS = 50_000


def drift_reference(
    manifest: Manifest,
    data: EvalData,
    outputs: Mapping[str, np.ndarray],
    max_rows: int = MAX_ROWS,
) -> DriftReferences:
    """The bins of the eval inputs and of the model's outputs on them, for the report."""
    input_names = [s.name for s in manifest.signature.inputs]
    parts: dict[str, list[np.ndarray]] = {name: [] for name in input_names}
    rows = 0
    for batch in data.batches(8192):
        for name in input_names:
            if name in batch.inputs:
                parts[name].append(np.asarray(batch.inputs[name]))
        rows += len(next(iter(batch.inputs.values())))
        if rows >= max_rows:
            break
    rows = min(rows, max_rows)
    inputs = {n: np.concatenate(p)[:rows] for n, p in parts.items() if p}
    out: dict[str, ReferenceBins] = {}
    names, matrix = feature_matrix(inputs, input_names, rows)
    if names:
        out["inputs"] = ReferenceBins.of(build_reference(names, matrix))
    output_names = [s.name for s in manifest.signature.outputs]
    kept = {n: np.asarray(outputs[n])[:max_rows] for n in output_names if n in outputs}
    if kept:
        out_rows = len(next(iter(kept.values())))
        names, matrix = feature_matrix(kept, output_names, out_rows)
        if names:
            out["outputs"] = ReferenceBins.of(build_reference(names, matrix))
    return DriftReferences(**out)
