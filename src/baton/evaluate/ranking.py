"""Ranking metrics as one value per row: top-k accuracy of a classifier, and where an
embedding's nearest same-label neighbour ranks (recall@k, MRR).

Per-row values let the point estimate and the bootstrap share one pass; both work in
chunks of rows, so memory stays bounded however many classes or rows there are.
"""

from __future__ import annotations

import numpy as np

TOP_K = (3, 5, 10)  # top-k accuracy, reported when the model has more than k classes
RECALL_AT = (1, 5, 10)
RECALL_MAX_ROWS = 5000  # neighbour ranks compare all pairs: bounded to keep time small
CHUNK_ROWS = 512


def top_k_hits(y: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """1 where the true class is among the ``k`` highest scores, ties broken as
    scikit-learn's ``top_k_accuracy_score`` breaks them (the higher class index first).
    A NaN score ranks last."""
    safe = np.where(np.isfinite(scores), scores, -np.inf)
    hits = np.empty(len(y))
    classes = np.arange(safe.shape[1])
    for start in range(0, len(y), CHUNK_ROWS):
        rows = safe[start : start + CHUNK_ROWS]
        truth = y[start : start + CHUNK_ROWS]
        own = rows[np.arange(len(rows)), truth][:, None]
        ahead = (rows > own) | ((rows == own) & (classes[None, :] > truth[:, None]))
        hits[start : start + len(rows)] = ahead.sum(axis=1) < k
    return hits


def neighbour_ranks(emb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per row (the first RECALL_MAX_ROWS), the rank of its nearest neighbour of the same
    label by cosine similarity, itself excluded: 1 when that neighbour is the nearest row.
    Rows of another label exactly as similar count as ahead. ``inf`` when no other row
    shares the label, or the row's embedding is not finite."""
    n = min(len(emb), RECALL_MAX_ROWS)
    if n < 2:
        return np.zeros(0)
    unit, bad = _unit_rows(emb[:n])
    own = labels[:n].reshape(n, -1)[:, 0] if labels[:n].ndim > 1 else labels[:n]
    ranks = np.empty(n)
    for start in range(0, n, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, n)
        local = np.arange(stop - start)
        sim = unit[start:stop] @ unit.T
        sim[:, bad] = -np.inf  # a broken row is nobody's neighbour
        same = own[start:stop, None] == own[None, :]
        same[local, local + start] = False
        sim[local, local + start] = -np.inf  # nor is the row itself
        best = np.where(same, sim, -np.inf).max(axis=1)
        ahead = (np.where(same, -np.inf, sim) >= best[:, None]).sum(axis=1)
        found = np.isfinite(best) & ~bad[start:stop]
        ranks[start:stop] = np.where(found, 1.0 + ahead, np.inf)
    return ranks


def recall_at(ranks: np.ndarray, k: int) -> np.ndarray:
    return np.asarray(ranks <= k, dtype=np.float64)


def reciprocal(ranks: np.ndarray) -> np.ndarray:
    """1/rank per row (0 for a row whose label no other row shares): MRR is its mean."""
    return np.asarray(1.0 / ranks, dtype=np.float64)


def _unit_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = values.reshape(len(values), -1).astype(np.float64)
    bad = ~np.all(np.isfinite(rows), axis=1)
    rows[bad] = 0.0
    norms = np.linalg.norm(rows, axis=1)
    return rows / np.where(norms > 0, norms, 1.0)[:, None], bad
