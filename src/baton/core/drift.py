"""Drift of serving traffic against the evaluation data, in constant memory.

The evaluation summarises each feature of the eval data as decile bins (edges and the share
of rows in each). The server counts its traffic into the same bins, so its memory does not
grow with traffic. Drift per feature is the population stability index (PSI), an effect
size: it does not grow with the number of requests, so a million requests with no real
shift stay near zero, while a real shift scores the same whether it was seen 2,000 or
2,000,000 times. Below a minimum sample the answer is "insufficient data", not a score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

BINS = 10
MIN_SAMPLES = 1000
THRESHOLD = 0.2  # PSI > 0.2: significant shift (0.1-0.2 moderate), the usual reading
_EPS = 1e-4  # floor for empty bins, so one empty bin does not make PSI infinite

Status = Literal["ok", "drift", "insufficient data"]


@dataclass(frozen=True)
class FeatureReference:
    name: str
    edges: tuple[float, ...]  # inner bin edges, ascending, unique; len(edges) + 1 bins
    shares: tuple[float, ...]  # share of reference rows in each bin; sums to 1


@dataclass(frozen=True)
class Reference:
    """The eval data's distribution, per feature (stored with the evaluation as
    ``core.evaluation.ReferenceBins``)."""

    features: tuple[FeatureReference, ...]
    rows: int


def build_reference(names: Sequence[str], values: np.ndarray, bins: int = BINS) -> Reference:
    """Quantile bins of each column of ``values`` (rows x features)."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    if values.shape[1] != len(names):
        raise ValueError(f"{len(names)} feature names for {values.shape[1]} columns")
    features = []
    for i, name in enumerate(names):
        column = values[:, i][np.isfinite(values[:, i])]
        if column.size == 0:
            features.append(FeatureReference(name, (), (1.0,)))
            continue
        inner = np.quantile(column, np.linspace(0, 1, bins + 1)[1:-1])
        edges = tuple(float(e) for e in np.unique(inner))
        counts = np.bincount(np.searchsorted(edges, column, side="right"), minlength=len(edges) + 1)
        features.append(
            FeatureReference(name, edges, tuple(float(c) for c in counts / column.size))
        )
    return Reference(tuple(features), int(values.shape[0]))


class DriftSketch:
    """Counts of serving traffic in the reference's bins: fixed memory whatever the load.

    Not thread-safe: the server updates it from its single inference thread per model.
    """

    def __init__(self, reference: Reference) -> None:
        self.reference = reference
        width = max(len(f.edges) for f in reference.features) + 1
        self._edges = np.full((len(reference.features), width - 1), np.inf)
        for i, f in enumerate(reference.features):
            self._edges[i, : len(f.edges)] = f.edges
        self.counts = np.zeros((len(reference.features), width), dtype=np.int64)
        self.rows = 0

    def observe(self, values: np.ndarray) -> None:
        """Add a batch (rows x features); non-finite values are skipped.

        One vectorised pass for all features: a value's bin is the number of its feature's
        edges at or below it (edges padded with +inf), then one ``bincount``.
        """
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        features, width = self.counts.shape
        if values.shape[1] != features or not len(values):
            return
        bins = (values[:, :, None] >= self._edges[None, :, :]).sum(axis=2)
        flat = bins + np.arange(features) * width
        flat = np.where(np.isfinite(values), flat, features * width)  # non-finite: discarded
        counted = np.bincount(flat.ravel(), minlength=features * width + 1)
        self.counts += counted[: features * width].reshape(features, width)
        self.rows += len(values)

    def reset(self) -> None:
        self.counts[:] = 0
        self.rows = 0


MAX_COLUMNS = 64  # a tensor wider than this is summarised per row, not watched element-wise
_SUMMARIES = ("mean", "std", "min", "max")


def feature_matrix(
    tensors: dict[str, np.ndarray], names: Sequence[str], rows: int
) -> tuple[list[str], np.ndarray]:
    """The features drift watches for the named tensors, as rows x features.

    Each element of a narrow tensor is a feature (``input[3]``); a wide one (an image, an
    embedding) is summarised per row by its mean, std, min and max, so the number of
    features, and of metric series, stays bounded whatever the model.
    """
    columns: list[np.ndarray] = []
    labels: list[str] = []
    for name in names:
        array = tensors.get(name)
        if array is None or array.dtype.kind not in "biuf":
            continue
        flat = np.asarray(array, dtype=np.float64).reshape(rows, -1)
        if flat.shape[1] <= MAX_COLUMNS:
            columns.append(flat)
            labels += (
                [f"{name}[{i}]" for i in range(flat.shape[1])] if flat.shape[1] > 1 else [name]
            )
        else:
            columns.append(np.column_stack([flat.mean(1), flat.std(1), flat.min(1), flat.max(1)]))
            labels += [f"{name}:{s}" for s in _SUMMARIES]
    if not columns:
        return [], np.empty((rows, 0))
    return labels, np.hstack(columns)


def psi(expected: Sequence[float], observed_counts: Sequence[int]) -> float:
    """Population stability index of observed counts against expected shares."""
    total = float(sum(observed_counts))
    if total <= 0:
        return 0.0
    score = 0.0
    for e, c in zip(expected, observed_counts, strict=False):
        p = max(e, _EPS)
        q = max(c / total, _EPS)
        score += (q - p) * math.log(q / p)
    return score


@dataclass(frozen=True)
class DriftScore:
    feature: str
    score: float | None  # None when there is too little data
    samples: int
    status: Status


def scores(
    sketch: DriftSketch, min_samples: int = MIN_SAMPLES, threshold: float = THRESHOLD
) -> list[DriftScore]:
    """PSI per feature, or "insufficient data" below ``min_samples`` rows."""
    out = []
    for i, feature in enumerate(sketch.reference.features):
        counts = sketch.counts[i, : len(feature.shares)]
        seen = int(counts.sum())
        if seen < min_samples:
            out.append(DriftScore(feature.name, None, seen, "insufficient data"))
            continue
        value = psi(feature.shares, [int(c) for c in counts])
        out.append(DriftScore(feature.name, value, seen, "drift" if value > threshold else "ok"))
    return out
