"""The judge's statistics against scipy (which baton does not import) and by their
properties: exact tests, the chi-square tail, and the Hodges-Lehmann shift of binned data."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import example, given, settings
from hypothesis import strategies as hs
from scipy.spatial.distance import jensenshannon

from baton.core.judge_stats import (
    Grouped,
    ShiftInterval,
    bin_quantile,
    binomial_greater,
    chi2_sf,
    count_above,
    fisher_greater,
    homogeneity,
    pool_sparse,
    rank_shift,
)

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("seed", range(40))
def test_fisher_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    na, nb = (int(v) for v in rng.integers(1, 3000, 2))
    ea, eb = int(rng.integers(0, na + 1) * rng.random() ** 3), int(rng.integers(0, nb + 1) * 0.05)
    expected = st.fisher_exact([[ea, na - ea], [eb, nb - eb]], alternative="greater").pvalue
    assert fisher_greater(ea, na, eb, nb) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_fisher_extremes() -> None:
    assert fisher_greater(0, 100, 0, 100) == 1.0
    assert fisher_greater(100, 100, 0, 100) == pytest.approx(
        st.fisher_exact([[100, 0], [0, 100]], alternative="greater").pvalue, rel=1e-9
    )
    with pytest.raises(ValueError, match="between 0"):
        fisher_greater(5, 4, 0, 10)


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [
        (0, 10, 0.01),
        (3, 200, 0.01),
        (10, 200, 0.01),
        (60, 5000, 0.01),
        (1, 1, 0.5),
        (200, 200, 0.01),
        (1, 30, 0.0),
        (5, 30, 1.0),
        (31, 30, 0.5),
    ],
)
def test_binomial_tail_matches_scipy(k: int, n: int, p: float) -> None:
    assert binomial_greater(k, n, p) == pytest.approx(st.binom.sf(k - 1, n, p), rel=1e-9)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 9, 10, 17, 40])
@pytest.mark.parametrize("x", [0.0, 0.01, 1.0, 5.5, 20.0, 90.0, 400.0])
def test_chi2_tail_matches_scipy(x: float, df: int) -> None:
    assert chi2_sf(x, df) == pytest.approx(st.chi2.sf(x, df), rel=1e-9, abs=1e-300)


def williams(table: np.ndarray) -> float:
    """Williams' divisor for a 2 x k table, from its textbook form (Sokal & Rohlf, 17.1)."""
    rows, cols, total = table.sum(axis=1), table.sum(axis=0), table.sum()
    k = table.shape[1]
    return 1 + (total * (1 / cols).sum() - 1) * (total * (1 / rows).sum() - 1) / (
        6 * total * (k - 1)
    )


@pytest.mark.parametrize("seed", range(10))
def test_g_test_and_js_match_scipy(seed: int) -> None:
    """Bins as they are (no pooling, no draws): scipy's G, its chi-square tail at G / q."""
    rng = np.random.default_rng(seed)
    a = rng.multinomial(500, np.full(8, 1 / 8))
    b = rng.multinomial(300, rng.dirichlet(np.ones(8) * 5))
    a[3] = b[3] = 0  # a bin empty in both is dropped, as scipy would refuse it
    result = homogeneity(a, b, min_expected=0, draws=0)
    table = np.array([a, b])[:, (a + b) > 0]
    g, _, df, _ = st.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    assert (result.statistic, result.p_value, result.df, result.bins, result.draws) == (
        pytest.approx(g, rel=1e-9),
        pytest.approx(st.chi2.sf(g / williams(table), df), rel=1e-7),
        df,
        7,
        0,
    )
    assert result.js == pytest.approx(jensenshannon(a, b, base=2) ** 2, rel=1e-9)


def test_homogeneity_without_two_bins_has_nothing_to_test() -> None:
    assert homogeneity([5, 0], [7, 0]).p_value == 1.0
    assert homogeneity([0, 0], [3, 4]).p_value == 1.0
    assert homogeneity([1, 2, 1], [0, 2, 1]).p_value == 1.0  # pooled into one bin


def exact_conditional_p(a: list[int], b: list[int]) -> float:
    """P(G* >= G) over every table with the bin totals and sizes of ``a`` and ``b``."""
    cols, m = np.add(a, b), sum(a)
    law = st.multivariate_hypergeom(cols, m)
    observed = homogeneity(a, b, min_expected=0, draws=0).statistic
    tables = [t for t in np.ndindex(*(cols + 1)) if sum(t) == m]
    return sum(
        float(law.pmf(t))
        for t in tables
        if homogeneity(t, cols - t, min_expected=0, draws=0).statistic >= observed - 1e-9
    )


@pytest.mark.parametrize(
    ("a", "b"), [([6, 1, 0, 2], [1, 4, 3, 0]), ([5, 0, 1], [0, 3, 4]), ([3, 3, 2], [2, 4, 2])]
)
def test_small_tables_get_the_exact_conditional_p_value(a: list[int], b: list[int]) -> None:
    """The Monte-Carlo p-value estimates the permutation test's: within 4 standard errors
    of the p-value from every table with the same margins (and always above 0)."""
    exact = exact_conditional_p(a, b)
    result = homogeneity(a, b, min_expected=0, draws=20_000, exact_below=1.0)
    assert result.draws == 20_000
    assert abs(result.p_value - exact) <= 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-4
    assert (
        result.p_value == homogeneity(a, b, min_expected=0, draws=20_000, exact_below=1.0).p_value
    )


def test_the_draws_are_spared_where_the_chi_square_p_value_is_large() -> None:
    alike = homogeneity([50, 60, 40, 50], [52, 58, 41, 49])
    assert (alike.draws, alike.p_value > 0.9) == (0, True)
    apart = homogeneity([80, 60, 40, 20], [20, 40, 60, 80], draws=999)
    assert (apart.draws, apart.p_value) == (999, 1 / 1000)  # no drawn table as extreme


def test_sparse_bins_are_pooled_before_the_test() -> None:
    rng = np.random.default_rng(3)
    shares = np.diff(st.norm.cdf(np.concatenate(([-np.inf], np.linspace(-3, 3, 99), [np.inf]))))
    a, b = rng.multinomial(40, shares), rng.multinomial(60, shares)
    result = homogeneity(a, b)
    pooled = pool_sparse(a, b)
    assert result.bins == int(((a + b) > 0).sum()) > 20
    assert result.df == len(pooled.a) - 1 < 10
    raw = homogeneity(a, b, min_expected=0, draws=0)
    assert raw.js > 5 * result.js  # raw: sampling noise over 100 bins looks like a shift


# sparse, skewed counts over ordered bins: many zeros, a few large
sparse_counts = hs.lists(
    hs.one_of(hs.just(0), hs.integers(0, 3), hs.integers(0, 200)), min_size=1, max_size=60
)


@settings(max_examples=300, deadline=None)
@given(sparse_counts, sparse_counts, hs.sampled_from([0.5, 1.0, 5.0, 10.0]))
def test_pooling_keeps_counts_and_order_and_reaches_the_expected_count(
    xs: list[int], ys: list[int], min_expected: float
) -> None:
    k = min(len(xs), len(ys))
    a, b = np.array(xs[:k], float), np.array(ys[:k], float)
    pooled = pool_sparse(a, b, min_expected)
    # order: runs of adjacent bins, from the first, each bin in exactly one run
    assert pooled.starts[0] == 0
    assert (np.diff(pooled.starts) > 0).all() and pooled.starts[-1] < k
    # counts: each run holds its bins' counts, the totals are kept
    assert pooled.a.tolist() == np.add.reduceat(a, pooled.starts).tolist()
    assert pooled.b.tolist() == np.add.reduceat(b, pooled.starts).tolist()
    assert (pooled.a.sum(), pooled.b.sum()) == (a.sum(), b.sum())
    # every run expects enough in both samples, or only one run is left
    m, n = a.sum(), b.sum()
    if len(pooled.a) > 1:
        expected = np.outer(pooled.a + pooled.b, [m, n]) / (m + n)
        assert (expected >= min_expected * (1 - 1e-12)).all()


def test_pooling_refuses_misaligned_bins() -> None:
    with pytest.raises(ValueError, match="same bins"):
        pool_sparse([1, 2, 3], [1, 2])


def test_bin_quantile_reads_like_histogram_quantile() -> None:
    bounds = (0.1, 0.2, 0.5, math.inf)
    counts = (10, 30, 50, 10)
    # rank 50 of 100 falls in (0.2, 0.5] after 40: 0.2 + 0.3 * 10 / 50
    assert bin_quantile(bounds, counts, 0.5) == pytest.approx(0.26)
    assert bin_quantile(bounds, counts, 0.05) == pytest.approx(0.05)  # from 0 in the first
    assert bin_quantile(bounds, counts, 0.99) == 0.5  # in +Inf: the last finite bound
    assert bin_quantile(bounds, (0, 0, 0, 0), 0.5) is None


def test_count_above_interpolates_inside_the_bin() -> None:
    bounds = (0.1, 0.2, 0.5, math.inf)
    counts = (10, 30, 50, 10)
    assert count_above(bounds, counts, 0.2) == pytest.approx(60)
    assert count_above(bounds, counts, 0.35) == pytest.approx(25 + 10)
    assert count_above(bounds, counts, 0.0) == pytest.approx(100)
    assert count_above(bounds, counts, 7.0) == 0  # beyond the last bound: unknown, not counted


# --- Hodges-Lehmann and its interval --------------------------------------------------

small_ints = hs.lists(hs.integers(-6, 6), min_size=1, max_size=25)


def points(values: list[int]) -> Grouped:
    return Grouped.points(np.asarray(values, float), np.ones(len(values)))


def shift(x: list[int], y: list[int], confidence: float = 0.9) -> ShiftInterval:
    result = rank_shift(points(x), points(y), confidence)
    assert result is not None
    return result


@settings(max_examples=150, deadline=None)
@given(small_ints, small_ints)
def test_estimate_is_the_median_of_pairwise_differences(x: list[int], y: list[int]) -> None:
    if len(x) + len(y) < 3:
        return
    assert shift(x, y).estimate == pytest.approx(np.median(np.subtract.outer(x, y)), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(small_ints, small_ints)
def test_interval_bounds_are_where_the_rank_sum_test_turns(x: list[int], y: list[int]) -> None:
    """Like R's wilcox.test(conf.int = TRUE): just outside a bound scipy's tie-corrected
    one-sided test rejects at (1 - confidence) / 2, just inside it does not."""
    if len(x) + len(y) < 3:
        return
    result = shift(x, y, 0.9)
    xs, ys = np.asarray(x, float), np.asarray(y, float)

    def p(d: float, side: str) -> float:
        test = st.mannwhitneyu(
            xs - d, ys, method="asymptotic", use_continuity=False, alternative=side
        )  # type: ignore[call-overload]
        return float(test.pvalue)

    eps = 1e-6
    if math.isfinite(result.lower):
        assert p(result.lower - eps, "greater") <= 0.05
        assert p(result.lower + eps, "greater") > 0.05 or result.lower + eps > result.upper
    if math.isfinite(result.upper):
        assert p(result.upper + eps, "less") <= 0.05
        assert p(result.upper - eps, "less") > 0.05 or result.upper - eps < result.lower
    assert result.lower <= result.estimate <= result.upper


@settings(max_examples=100, deadline=None)
@given(small_ints, small_ints)
def test_swapping_the_samples_negates_the_shift(x: list[int], y: list[int]) -> None:
    if len(x) + len(y) < 3:
        return
    forward, backward = shift(x, y), shift(y, x)
    assert backward.estimate == pytest.approx(-forward.estimate, abs=1e-9)
    assert (backward.lower, backward.upper) == (
        pytest.approx(-forward.upper, abs=1e-9),
        pytest.approx(-forward.lower, abs=1e-9),
    )
    assert backward.z_at_zero == pytest.approx(-forward.z_at_zero, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(small_ints, small_ints, hs.integers(-20, 20), hs.sampled_from([0.25, 1.0, 3.0]))
def test_shift_is_equivariant_under_translation_and_scale(
    x: list[int], y: list[int], move: int, scale: float
) -> None:
    """Moving the canary by t moves every number by t; scaling both scales them."""
    if len(x) + len(y) < 3:
        return
    base = shift(x, y)
    moved = shift([v + move for v in x], y)
    for a, b in (
        (moved.estimate, base.estimate),
        (moved.lower, base.lower),
        (moved.upper, base.upper),
    ):
        assert a == pytest.approx(b + move, abs=1e-9)
    scaled = rank_shift(
        Grouped.points(np.asarray(x) * scale, np.ones(len(x))),
        Grouped.points(np.asarray(y) * scale, np.ones(len(y))),
        0.9,
    )
    assert scaled is not None
    assert scaled.estimate == pytest.approx(base.estimate * scale, abs=1e-9)
    assert scaled.lower == pytest.approx(base.lower * scale, abs=1e-9)


counts_lists = hs.lists(hs.integers(0, 40), min_size=8, max_size=8)


@settings(max_examples=100, deadline=None)
@given(counts_lists, counts_lists, hs.integers(0, 3))
def test_binned_shift_by_whole_bins_on_an_even_grid(
    canary: list[int], baseline: list[int], bins: int
) -> None:
    """On equal-width bins, moving the canary's counts up by k bins is a shift by exactly
    k widths of the binned (evenly spread) distribution: the estimate moves by k widths."""
    if sum(canary) < 2 or sum(baseline) < 2:
        return
    bounds = (*(0.01 * i for i in range(1, 12)), math.inf)  # 11 even bins, then +Inf
    padded = [*canary, 0, 0, 0, 0]
    moved = [0] * bins + padded[: 12 - bins]
    base = rank_shift(
        Grouped.histogram(bounds, padded), Grouped.histogram(bounds, [*baseline, 0, 0, 0, 0]), 0.98
    )
    after = rank_shift(
        Grouped.histogram(bounds, moved), Grouped.histogram(bounds, [*baseline, 0, 0, 0, 0]), 0.98
    )
    assert base is not None and after is not None
    assert after.estimate == pytest.approx(base.estimate + 0.01 * bins, abs=1e-9)
    assert after.lower == pytest.approx(base.lower + 0.01 * bins, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(counts_lists, counts_lists, hs.integers(0, 6))
@example([1, 0, 1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0, 2], 0)  # 6e-12 lower: bisection's
def test_a_slower_request_never_lowers_the_estimate(
    canary: list[int], baseline: list[int], at: int
) -> None:
    bounds = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, math.inf)
    if sum(canary) < 2 or sum(baseline) < 2 or canary[at] == 0:
        return
    slower = list(canary)
    slower[at] -= 1
    slower[at + 1] += 1
    before = rank_shift(
        Grouped.histogram(bounds, canary), Grouped.histogram(bounds, baseline), 0.98
    )
    after = rank_shift(Grouped.histogram(bounds, slower), Grouped.histogram(bounds, baseline), 0.98)
    assert before is not None and after is not None
    # the estimate is found to 1e-10 of the span searched (here 0.1 s or so), not to the bit
    assert after.estimate >= before.estimate - 1e-9
    assert after.z_at_zero >= before.z_at_zero - 1e-9


def test_identical_histograms_shift_by_nothing() -> None:
    bounds = (0.001, 0.002, 0.005, 0.01, math.inf)
    counts = (5, 40, 100, 30, 2)
    result = rank_shift(Grouped.histogram(bounds, counts), Grouped.histogram(bounds, counts), 0.98)
    assert result is not None
    assert result.estimate == pytest.approx(0, abs=1e-12)
    assert result.lower < 0 < result.upper
    assert result.z_at_zero == 0


def test_all_requests_in_one_bin_on_both_sides_is_no_evidence() -> None:
    """Kayenta's constant-series case: every request tied, no variance at no shift."""
    bounds = (0.001, 0.002, math.inf)
    result = rank_shift(
        Grouped.histogram(bounds, (0, 500, 0)), Grouped.histogram(bounds, (0, 800, 0)), 0.98
    )
    assert result is not None
    assert (result.estimate, result.z_at_zero, result.p_greater) == (0, 0, 0.5)
    assert result.lower < 0 < result.upper


def test_too_little_data_gives_no_interval_or_an_open_one() -> None:
    bounds = (0.001, math.inf)
    assert (
        rank_shift(Grouped.histogram(bounds, (0, 0)), Grouped.histogram(bounds, (4, 0)), 0.98)
        is None
    )
    tiny = rank_shift(points([3]), points([1, 2]), 0.98)
    assert tiny is not None
    assert (tiny.lower, tiny.upper) == (-math.inf, math.inf)


def test_histogram_bins_must_rise_and_end_in_overflow() -> None:
    with pytest.raises(ValueError, match="then \\+Inf"):
        Grouped.histogram((0.1, 0.2), (1, 2))
    with pytest.raises(ValueError, match="rise strictly"):
        Grouped.histogram((0.2, 0.1, math.inf), (1, 2, 3))
    with pytest.raises(ValueError, match="3 bins, but 2 counts"):
        Grouped.histogram((0.1, 0.2, math.inf), (1, 2))
    with pytest.raises(ValueError, match="not negative"):
        Grouped.histogram((0.1, math.inf), (1, -2))
