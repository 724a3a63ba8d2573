"""What the gate scores: which output, how many classes, and the metrics of one model."""

from __future__ import annotations

import numpy as np

from baton.core.evaluation import Metrics
from baton.core.manifest import Manifest, Task
from baton.core.signature import TensorSpec
from baton.errors import BadInput
from baton.evaluate import metrics
from baton.store.registry import VersionInfo

MAX_CONFUSION_CLASSES = 100  # a bigger matrix is not stored in the report


def scored_output(manifest: Manifest) -> TensorSpec:
    """The output the gate judges: a classifier's first float output (its scores, not a
    predicted-label output); otherwise the first output."""
    if manifest.task is Task.CLASSIFICATION:
        for spec in manifest.signature.outputs:
            if spec.dtype.value.startswith("float"):
                return spec
    return manifest.signature.outputs[0]


def classes_of(manifest: Manifest) -> int | None:
    shape = scored_output(manifest).shape
    if len(shape) == 1 or shape[-1] == 1:
        return 2  # one score per row: the probability of the positive class
    if shape[-1] != -1:
        return shape[-1]
    return len(manifest.labels) if manifest.labels else None


def class_scores(task: str, values: np.ndarray) -> np.ndarray:
    """Rows of class scores: a single positive-class score p becomes [1 - p, p]."""
    if task != "classification":
        return values
    rows = values.reshape(len(values), -1)
    if rows.shape[1] == 1:
        return np.hstack([1 - rows, rows])
    return rows


def quality(
    task: str,
    target: np.ndarray | None,
    outputs: np.ndarray,
    reference: np.ndarray | None,
    classes: int,
    labels: list[str] | None,
    probabilities: bool,
) -> Metrics:
    """The task's built-in metrics for one model's outputs (packages' metrics are added by
    the service, from the catalogue)."""
    if task == "classification" and target is not None:
        out = metrics.classification(target, outputs, classes, labels, probabilities)
        if classes > MAX_CONFUSION_CLASSES:
            out["confusion_matrix"] = None
        return out
    if task == "regression" and target is not None:
        return metrics.regression(target, outputs)
    if task == "embedding":
        return metrics.embedding(outputs, reference, target)
    return metrics.generic(outputs, reference)


def reference_range_for(
    task: str,
    reference: np.ndarray | None,
    target: np.ndarray | None,
    baseline: VersionInfo | None,
    outputs: dict[str, np.ndarray],
) -> tuple[str, np.ndarray | None]:
    """What outputs should stay within: reference outputs given with the data, else a
    regressor's ground truth, else what the baseline produced on the same rows."""
    if reference is not None:
        return "the reference outputs in the eval data", reference
    if task == "regression" and target is not None:
        return "the ground truth", target
    if baseline is not None:
        return f"the baseline {baseline.ref}", outputs["baseline"]
    return "", None


def _out_of_range(target: np.ndarray, indices: np.ndarray, classes: int) -> bool:
    """Whether any index falls outside 0..classes-1: for integers one pass over the labels
    (seen as unsigned, a negative index is larger than any class), which runs once per
    evaluation pass."""
    if target.dtype.kind == "u":
        return bool(target.max() >= classes)
    if target.dtype.kind == "i" and classes <= np.iinfo(target.dtype).max + 1:
        # negatives seen as unsigned lie above the largest signed value, so above classes
        return bool(target.view(f"u{target.dtype.itemsize}").max() >= classes)
    return bool(indices.min() < 0 or indices.max() >= classes)


def class_indices(
    target: np.ndarray, labels: list[str] | None, classes: int, filename: str
) -> np.ndarray:
    """Ground truth as class indices: label names (from the manifest) or indices 0..n-1.

    A label the model does not know is bad input: the gate must not score a class the
    model cannot predict."""
    if target.ndim != 1:
        raise BadInput(
            f"eval data {filename}: the target has shape {list(target.shape)}; a classifier's "
            "target is one class index or label name per row"
        )
    if target.dtype.kind in "USO":
        names = labels or [str(i) for i in range(classes)]
        lookup = {name: i for i, name in enumerate(names)}
        text = target.astype(str)
        unknown = sorted(set(np.unique(text)) - lookup.keys())
        if unknown:
            raise BadInput(
                f"eval data {filename}: labels the model does not know: {', '.join(unknown[:5])} "
                f"(it knows {', '.join(names[:12])}{', ...' if len(names) > 12 else ''})"
            )
        return np.array([lookup[t] for t in text], dtype=np.int64)
    if target.dtype.kind == "f" and (
        not np.all(np.isfinite(target)) or not np.all(target == np.round(target))
    ):
        raise BadInput(
            f"eval data {filename}: the target holds fractional or missing values; "
            "a classifier's target is a class index or label name"
        )
    if target.dtype.kind not in "biuf":
        raise BadInput(f"eval data {filename}: the target holds {target.dtype} values")
    indices = target.astype(np.int64, copy=False)
    if indices.size and _out_of_range(target, indices, classes):
        bad = indices[(indices < 0) | (indices >= classes)]
        shown = ", ".join(str(v) for v in np.unique(bad)[:5])
        raise BadInput(
            f"eval data {filename}: labels the model does not know: {shown} "
            f"(it has {classes} classes, 0..{classes - 1})"
        )
    return indices
