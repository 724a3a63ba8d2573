"""Top-k accuracy and neighbour ranks, checked against scikit-learn on random and tied cases."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import top_k_accuracy_score
from sklearn.neighbors import NearestNeighbors

from baton.evaluate.ranking import neighbour_ranks, recall_at, reciprocal, top_k_hits


@settings(max_examples=80, deadline=None)
@given(
    st.integers(3, 8).flatmap(
        lambda c: st.tuples(
            st.just(c),
            st.integers(1, c - 1),
            st.lists(
                st.tuples(
                    st.integers(0, c - 1), st.lists(st.integers(0, 3), min_size=c, max_size=c)
                ),
                min_size=1,
                max_size=40,
            ),
        )
    )
)
def test_top_k_hits_equal_scikit_learn_ties_included(case: tuple[int, int, list]) -> None:  # type: ignore[type-arg]
    classes, k, rows = case
    y = np.array([t for t, _ in rows])
    scores = np.array([s for _, s in rows], dtype=np.float64)  # small integers: many ties
    expected = top_k_accuracy_score(y, scores, k=k, labels=list(range(classes)))
    assert top_k_hits(y, scores, k).mean() == expected


def test_top_k_hits_rank_a_nan_score_last() -> None:
    scores = np.array([[np.nan, 0.2, 0.1, 0.7], [0.1, np.nan, 0.3, 0.6]])
    assert top_k_hits(np.array([0, 2]), scores, 3).tolist() == [0.0, 1.0]


def test_recall_at_k_agrees_with_scikit_learn_neighbours_over_chunks() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 1300)  # more rows than one chunk
    emb = rng.normal(size=(6, 8))[labels] + rng.normal(size=(1300, 8)) * 1.5
    ranks = neighbour_ranks(emb, labels)
    index = NearestNeighbors(n_neighbors=11, metric="cosine").fit(emb)
    _, nearest = index.kneighbors(emb)
    others = nearest[:, 1:]  # itself first (no duplicate rows in random floats)
    same = labels[others] == labels[:, None]
    for k in (1, 5, 10):
        assert recall_at(ranks, k).tolist() == same[:, :k].any(axis=1).astype(float).tolist()
    first = np.argmax(same, axis=1) + 1.0
    assert np.allclose(reciprocal(ranks)[same.any(axis=1)], 1 / first[same.any(axis=1)])
    assert 0 < recall_at(ranks, 1).mean() < recall_at(ranks, 5).mean() < 1


def test_ranks_of_lonely_broken_and_tied_rows() -> None:
    emb = np.array([[1.0, 0.0], [1.0, 0.0], [np.nan, 1.0], [0.0, 1.0], [0.1, 1.0], [1.0, 0.0]])
    labels = np.array(["a", "b", "c", "d", "d", "a"])
    ranks = neighbour_ranks(emb, labels)
    # row 0's same-label partner (row 5) is exactly as near as row 1 of another label: a tie
    # counts against it; "b" and "c" have no partner; row 2 is NaN and nobody's neighbour
    assert ranks.tolist() == [2.0, np.inf, np.inf, 1.0, 1.0, 2.0]
    assert reciprocal(ranks).tolist() == [0.5, 0.0, 0.0, 1.0, 1.0, 0.5]
    assert neighbour_ranks(emb[:1], labels[:1]).size == 0
