"""Quality metrics per task (scikit-learn does the maths) and paired bootstrap deltas.

Point estimates come from scikit-learn. The bootstrap re-computes the same metrics on
thousands of resamples, so it uses vectorised NumPy equivalents (tested against
scikit-learn) over per-row statistics kept from one pass.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from baton.core.evaluation import Metrics
from baton.core.gate import Directions, MetricDelta
from baton.evaluate.ranking import (
    RECALL_AT,
    TOP_K,
    neighbour_ranks,
    recall_at,
    reciprocal,
    top_k_hits,
)

Resampled = dict[str, Callable[[np.ndarray], float]]
ECE_BINS = 15


def predicted_classes(proba: np.ndarray) -> np.ndarray:
    """Argmax that never picks a NaN (a NaN row predicts class 0 rather than crash)."""
    safe = np.where(np.isfinite(proba), proba, -np.inf)
    return np.asarray(safe.argmax(axis=1), dtype=np.int64)


def looks_like_probabilities(proba: np.ndarray, tolerance: float) -> bool:
    if not np.all(np.isfinite(proba)) or proba.min(initial=0.0) < -tolerance:
        return False
    return bool(np.all(np.abs(proba.sum(axis=1) - 1.0) <= tolerance))


def expected_calibration_error(y: np.ndarray, proba: np.ndarray, bins: int = ECE_BINS) -> float:
    """Weighted gap between confidence and accuracy over equal-width confidence bins."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    conf_sum = np.bincount(which, weights=confidence, minlength=bins)
    hit_sum = np.bincount(which, weights=correct.astype(np.float64), minlength=bins)
    return float(np.abs(conf_sum - hit_sum).sum() / len(y))


def classification(
    y: np.ndarray, proba: np.ndarray, classes: int, labels: list[str] | None, probabilities: bool
) -> Metrics:
    """Accuracy, top-k accuracy (k below the number of classes), macro-F1, per-class
    recall, confusion matrix; log loss and calibration only when the outputs really are
    probabilities."""
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        recall_score,
    )

    pred = predicted_classes(proba)
    every = list(range(classes))
    names = labels or [str(i) for i in every]
    recall = recall_score(y, pred, labels=every, average=None, zero_division=0)
    out: Metrics = {
        "accuracy": float(accuracy_score(y, pred)),
        **{f"top_{k}_accuracy": float(top_k_hits(y, proba, k).mean()) for k in top_ks(classes)},
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "log_loss": None,
        "ece": None,
        "per_class_recall": {names[i]: float(r) for i, r in enumerate(recall)},
        "confusion_matrix": confusion_matrix(y, pred, labels=every).tolist(),
        "labels": list(names),  # a copy typed as JSON
    }
    if probabilities:
        clipped = np.clip(proba.astype(np.float64), 1e-15, 1.0)
        clipped /= clipped.sum(axis=1, keepdims=True)
        out["log_loss"] = float(log_loss(y, clipped, labels=every))
        out["ece"] = expected_calibration_error(y, proba)
    return out


def regression(y: np.ndarray, pred: np.ndarray) -> Metrics:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    y2, p2 = _as_2d(y), _as_2d(pred)
    if not np.all(np.isfinite(p2)):
        return {"mae": None, "rmse": None, "r2": None}
    return {
        "mae": float(mean_absolute_error(y2, p2)),
        "rmse": float(np.sqrt(mean_squared_error(y2, p2))),
        "r2": float(r2_score(y2, p2)),
    }


def embedding(emb: np.ndarray, reference: np.ndarray | None, labels: np.ndarray | None) -> Metrics:
    out: Metrics = {}
    if reference is not None:
        out["mean_cosine"] = float(_row_cosine(emb, reference).mean())
    if labels is not None:
        ranks = neighbour_ranks(emb, labels)
        for k in RECALL_AT:
            out[f"recall_at_{k}"] = float(recall_at(ranks, k).mean()) if ranks.size else None
        out["mrr"] = float(reciprocal(ranks).mean()) if ranks.size else None
    return out


def top_ks(classes: int) -> tuple[int, ...]:
    """The k of the top-k accuracies worth reporting: with k classes or fewer it is 1."""
    return tuple(k for k in TOP_K if k < classes)


def generic(outputs: np.ndarray, reference: np.ndarray | None) -> Metrics:
    if reference is None:
        return {}
    diff = np.abs(_as_2d(outputs).astype(np.float64) - _as_2d(reference))
    return {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}


# -- bootstrap ---------------------------------------------------------------------------


def resampled_metrics(
    task: str,
    y: np.ndarray | None,
    outputs: np.ndarray,
    reference: np.ndarray | None,
    classes: int,
    probabilities: bool,
) -> Resampled:
    """Functions from resampled row indices to a metric value, for one model's outputs."""
    fns: Resampled = {}
    if task == "classification" and y is not None:
        pred = predicted_classes(outputs)
        correct = (pred == y).astype(np.float64)
        fns["accuracy"] = lambda idx: float(correct[idx].mean())
        fns["macro_f1"] = lambda idx: macro_f1(y[idx], pred[idx], classes)
        for k in top_ks(classes):
            fns[f"top_{k}_accuracy"] = _mean_of(top_k_hits(y, outputs, k))
        if probabilities:
            nll = -np.log(np.clip(outputs[np.arange(len(y)), y].astype(np.float64), 1e-15, 1))
            fns["log_loss"] = lambda idx: float(nll[idx].mean())
    elif task == "regression" and y is not None:
        err = _as_2d(outputs).astype(np.float64) - _as_2d(y)
        truth = _as_2d(y).astype(np.float64)
        if np.all(np.isfinite(err)):
            fns["mae"] = lambda idx: float(np.abs(err[idx]).mean())
            fns["rmse"] = lambda idx: float(np.sqrt((err[idx] ** 2).mean()))
            fns["r2"] = lambda idx: r2(truth[idx], err[idx])
    elif task == "embedding":
        if reference is not None:
            cos = _row_cosine(outputs, reference)
            fns["mean_cosine"] = lambda idx: float(cos[idx].mean())
        if y is not None:
            ranks = neighbour_ranks(outputs, y)
            if ranks.size:  # ranks cover the first rows only: resample those among them
                for k in RECALL_AT:
                    fns[f"recall_at_{k}"] = _mean_of(recall_at(ranks, k))
                fns["mrr"] = _mean_of(reciprocal(ranks))
    elif reference is not None:
        diff = np.abs(_as_2d(outputs).astype(np.float64) - _as_2d(reference)).mean(axis=1)
        fns["mean_abs_diff"] = lambda idx: float(diff[idx].mean())
    return fns


BOOTSTRAP_WORK = 20_000_000  # resamples x rows: a few seconds on one core
MIN_RESAMPLES = 100


def bootstrap_draws(wanted: int, rows: int) -> int:
    """Resamples to draw: as many as asked, fewer on a large eval set (whose intervals are
    narrow anyway), so the comparison stays seconds, not hours, on millions of rows."""
    return max(MIN_RESAMPLES, min(wanted, BOOTSTRAP_WORK // max(rows, 1)))


def paired_deltas(
    candidate: Resampled,
    baseline: Resampled,
    rows: int,
    *,
    resamples: int,
    confidence: float,
    seed: int = 0,
    directions: Directions | None = None,
) -> list[MetricDelta]:
    """Candidate minus baseline on the *same* resampled rows: the pairing cancels the
    difficulty of the rows, so the interval is as narrow as the data allows."""
    names = [n for n in candidate if n in baseline]
    everything = np.arange(rows)
    rng = np.random.default_rng(seed)
    draws = np.empty((len(names), resamples))
    for b in range(resamples):
        idx = rng.integers(0, rows, rows)
        for i, name in enumerate(names):
            draws[i, b] = candidate[name](idx) - baseline[name](idx)
    tail = (1 - confidence) / 2
    out = []
    for i, name in enumerate(names):
        cand, base = candidate[name](everything), baseline[name](everything)
        finite = draws[i][np.isfinite(draws[i])]
        low, high = (
            (float(np.quantile(finite, tail)), float(np.quantile(finite, 1 - tail)))
            if finite.size
            else (float("nan"), float("nan"))
        )
        higher = (directions or {}).get(name)
        out.append(MetricDelta(name, cand, base, cand - base, low, high, higher))
    return out


def macro_f1(y: np.ndarray, pred: np.ndarray, classes: int) -> float:
    """scikit-learn's macro-F1 (zero_division=0) over the classes seen in truth or guess."""
    cm = np.bincount(y * classes + pred, minlength=classes * classes).reshape(classes, classes)
    tp = np.diag(cm).astype(np.float64)
    actual, guessed = cm.sum(axis=1), cm.sum(axis=0)
    seen = (actual + guessed) > 0
    denom = (actual + guessed).astype(np.float64)
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[seen].mean()) if seen.any() else 0.0


def r2(truth: np.ndarray, err: np.ndarray) -> float:
    """scikit-learn's R² (uniform average over outputs; a constant target scores 1 or 0)."""
    ss_res = (err**2).sum(axis=0)
    ss_tot = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    score = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1), 0.0)
    score = np.where((ss_tot == 0) & (ss_res == 0), 1.0, score)
    return float(score.mean())


def _mean_of(per_row: np.ndarray) -> Callable[[np.ndarray], float]:
    """A resampled mean of per-row values that may cover only the first rows."""
    return lambda idx: float(per_row[idx[idx < len(per_row)]].mean())


def _as_2d(values: np.ndarray) -> np.ndarray:
    return values.reshape(len(values), -1)


def _row_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a2, b2 = _as_2d(a).astype(np.float64), _as_2d(b).astype(np.float64)
    norms = np.linalg.norm(a2, axis=1) * np.linalg.norm(b2, axis=1)
    dots = (a2 * b2).sum(axis=1)
    return np.asarray(np.divide(dots, norms, out=np.zeros(len(a2)), where=norms > 0))
