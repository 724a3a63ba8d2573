"""Facts about a model's outputs that the sanity check judges (``core.gate.sanity``)."""

from __future__ import annotations

import numpy as np

from baton.core.gate import SanityFacts
from baton.core.policy import SanityPolicy


def reference_range(values: np.ndarray | None) -> tuple[float, float] | None:
    if values is None:
        return None
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return None
    return float(finite.min()), float(finite.max())


def output_facts(
    outputs: np.ndarray,
    *,
    probabilities: bool,
    reference: np.ndarray | None,
    policy: SanityPolicy,
    reference_name: str = "the reference",
) -> SanityFacts:
    """Count NaN/Inf, measure how far rows are from summing to one (when they should be
    probabilities), and the share of outputs outside the reference's range."""
    if outputs.dtype.kind != "f":
        return SanityFacts(values=int(outputs.size), nonfinite=0, notes=("outputs are not floats",))
    values = outputs.astype(np.float64, copy=False)
    finite = np.isfinite(values)
    nonfinite = int(values.size - finite.sum())
    prob_error = None
    if probabilities:
        rows = values.reshape(len(values), -1)
        ok_rows = np.all(np.isfinite(rows), axis=1)
        if ok_rows.any():
            checked = rows[ok_rows]
            prob_error = float(np.abs(checked.sum(axis=1) - 1.0).max())
            prob_error = max(prob_error, float(-min(checked.min(), 0.0)))
        else:
            prob_error = float("nan")
    span = reference_range(reference)
    share = None
    notes: tuple[str, ...] = ()
    if span is not None:
        lo, hi = span
        margin = policy.range_margin * (hi - lo)
        inside = (values >= lo - margin) & (values <= hi + margin)
        share = float(1.0 - inside[finite].mean()) if finite.any() else 1.0
        notes = (f"range taken from {reference_name}",)
    return SanityFacts(
        values=int(values.size),
        nonfinite=nonfinite,
        probability_error=prob_error,
        out_of_range=share,
        reference_range=span,
        notes=notes,
    )
