from __future__ import annotations

import itertools

import pytest

from baton.audit.result import VERDICT_ORDER
from testkit.sample import sample_result


def test_rows_sort_at_risk_first_then_by_savings() -> None:
    rows = sample_result().sorted_rows()
    order = [VERDICT_ORDER[r.verdict] for r in rows]
    assert order == sorted(order)
    for a, b in itertools.pairwise(rows):
        if a.verdict == b.verdict:
            assert a.recommendation.monthly_savings >= b.recommendation.monthly_savings


def test_costs_by_verdict_add_up_and_keep_unsized_rows_at_their_cost() -> None:
    result = sample_result()
    by = result.costs_by_verdict()
    assert sum(count for _, count, _, _ in by) == len(result.rows)
    assert sum(now for _, _, now, _ in by) == pytest.approx(sum(r.cost_now for r in result.rows))
    unsized = [r for r in result.rows if r.recommendation.monthly_cost_after is None]
    assert unsized and all(r.cost_after == r.cost_now for r in unsized)
    assert [v for v, _, _, _ in by] == sorted({r.verdict for r in result.rows},
                                              key=VERDICT_ORDER.__getitem__)  # fmt: skip
