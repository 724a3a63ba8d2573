"""A stored audit's totals and order, from its lines: property-tested."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.core.audit_records import VERDICTS, AuditedDeployment, by_savings, totals
from baton.errors import BadInput
from testkit.audit_runs import audit_line

money = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@st.composite
def lines(draw: st.DrawFn) -> list[AuditedDeployment]:
    out = []
    for i in range(draw(st.integers(0, 30))):
        now, after = draw(money), draw(money)
        verdict = draw(st.sampled_from(VERDICTS))
        out.append(replace(audit_line(i), verdict=verdict, cost_now=now, cost_after=after,
                           savings=now - after))  # fmt: skip
    return out


@given(lines())
def test_totals_add_up_to_the_lines(found: list[AuditedDeployment]) -> None:
    sums = totals(found)
    assert sums.deployments == len(found) == sum(sums.by_verdict.values())
    assert sums.cost_now == pytest.approx(math.fsum(d.cost_now for d in found))
    assert sums.savings == pytest.approx(math.fsum(d.savings for d in found), abs=1e-6)
    assert sums.at_risk == sum(d.verdict == "at risk" for d in found)
    assert list(sums.by_verdict) == [v for v in VERDICTS if v in sums.by_verdict]
    assert 0 not in sums.by_verdict.values()


@given(lines())
def test_by_savings_is_most_savings_first_and_keeps_every_line(
    found: list[AuditedDeployment],
) -> None:
    ordered = by_savings(found)
    assert sorted(ordered, key=id) == sorted(found, key=id)
    assert all(a.savings >= b.savings for a, b in itertools.pairwise(ordered))


def test_inf_cost_is_refused_with_the_line_named() -> None:
    bad = replace(audit_line(3), cost_after=math.inf, savings=-math.inf)
    with pytest.raises(BadInput, match="audit line 'dep-0003': cost now 103.0 and after inf"):
        totals([bad])
