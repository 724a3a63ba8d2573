"""The Plotly figures: fragments without plotly.js, drawn only from data that exists.

Chromium drawing them inside the full page is tested in test_report.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

import plotly.offline

from baton.audit.charts import VERDICT_COLOURS, daily_chart, fleet_charts, has_data, usage_chart
from baton.audit.observed import Observed, Series
from baton.audit.prices import parse_prices
from baton.audit.result import VERDICT_ORDER, AuditResult, Row, SizingTarget
from baton.core.inventory import Deployment, Resources
from baton.core.rightsizing import recommend
from baton.core.sizing import Allocation, ObservedUsage
from testkit.sample import sample_result


def div_id(fragment: str) -> str:
    found = re.search(r'<div id="([^"]+)" class="plotly-graph-div', fragment)
    assert found, fragment[:300]
    return found.group(1)


def names(fragment: str) -> list[str]:
    """The trace names in a fragment (what its legend shows)."""
    return [n.replace("\\u002f", "/") for n in re.findall(r'"name":"([^"]+)"', fragment)]


def empty_row(name: str, observed: Observed | None) -> Row:
    deployment = Deployment(
        name=name, model=name, version="1", replicas=2,
        resources=Resources(cores=1, memory_bytes=2**30),
    )  # fmt: skip
    rec = recommend(ObservedUsage(coverage=0.0), Allocation(2, 1, 2**30), None, 50)
    return Row(deployment, observed, rec, SizingTarget(replicas=None), 50, "no profile")


def test_every_verdict_has_a_colour() -> None:
    assert set(VERDICT_COLOURS) == set(VERDICT_ORDER)


def test_has_data_needs_one_real_sample() -> None:
    assert not has_data(Observed(ObservedUsage()))
    nan = Series((0.0, 60.0), (math.nan, math.nan))
    assert not has_data(Observed(ObservedUsage(), timeline={"rps": nan, "cpu": nan}))
    one = Series((0.0, 60.0), (math.nan, 0.0))
    assert has_data(Observed(ObservedUsage(), timeline={"rps": nan, "cpu": one}))


def test_fleet_charts_are_fragments_labelled_with_example_prices() -> None:
    charts = fleet_charts(sample_result(), 25)
    assert [div_id(c) for c in charts] == ["fleet-cost", "fleet-savings", "fleet-capacity"]
    js = plotly.offline.get_plotlyjs()
    for chart in charts:
        assert "<html" not in chart and js not in chart
    assert "USD\\u002fmonth, example prices" in charts[0]


def test_fleet_charts_with_own_prices_drop_the_example_label() -> None:
    prices = parse_prices({"currency": "EUR", "cpu": {"core_hour": 0.03, "gib_hour": 0.004}})
    charts = fleet_charts(replace(sample_result(), prices=prices.to_report()), 25)
    assert "EUR\\u002fmonth" in charts[0]
    assert not any("example prices" in c for c in charts)


def test_a_fleet_without_costs_or_load_gets_only_the_cost_chart() -> None:
    rows = (empty_row("ghost", None), empty_row("empty", Observed(ObservedUsage(coverage=0.0))))
    result = AuditResult("http://p:9090", 0, 3600, 60, 60, 3, 0.1, rows, {})
    assert [div_id(c) for c in fleet_charts(result, 25)] == ["fleet-cost"]


def test_usage_chart_sets_each_series_against_allocation_and_recommendation() -> None:
    row = sample_result().sorted_rows()[0]
    chart = usage_chart(row, "d0-usage")
    assert div_id(chart) == "d0-usage"
    shown = names(chart)
    for legend in (
        "requests/s", "capacity recommended", "CPU request", "CPU recommended",
        "memory request", "memory limit", "memory recommended", "SLO p99",
    ):  # fmt: skip
        assert legend in shown
    assert any(n.startswith("capacity now") for n in shown)


def test_usage_chart_draws_only_the_series_with_samples() -> None:
    t = (0.0, 60.0, 120.0)
    observed = Observed(
        ObservedUsage(coverage=1.0),
        timeline={
            "rps": Series(t, (1.0, 2.0, math.nan)),
            "cpu": Series(t, (math.nan,) * 3),
            "memory": Series(t, (2.0**30,) * 3),
        },
    )
    chart = usage_chart(empty_row("half", observed), "half-usage")
    shown = names(chart)
    assert "requests/s" in shown and "memory GiB" in shown
    assert "CPU cores" not in shown and "CPU request" not in shown
    assert "replicas" not in shown and "p99 ms" not in shown


def test_daily_chart_has_a_bar_per_hour() -> None:
    pattern = tuple(float(h) for h in range(24))
    chart = daily_chart((*pattern[:5], math.nan, *pattern[6:]), "d0-daily")
    assert div_id(chart) == "d0-daily"
    assert '"x":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23]' in chart
    assert '"y":[0.0,1.0,2.0,3.0,4.0,null,6.0' in chart
