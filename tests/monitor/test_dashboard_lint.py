"""The dashboard linter: each convention it enforces, and PromQL metric-name extraction."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from baton.monitor import hub
from baton.monitor.dashboard_lint import counter_problems, lint, metric_names, panels

DS = {"type": "prometheus", "uid": "${datasource}"}


def _dashboard() -> dict[str, Any]:
    return {
        "id": None,
        "uid": "lint-test-1",
        "title": "t",
        "schemaVersion": 39,
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]
        },
        "panels": [
            {"id": 1, "type": "row", "title": "r", "gridPos": {}, "panels": []},
            {
                "id": 2,
                "type": "timeseries",
                "title": "requests",
                "gridPos": {},
                "datasource": DS,
                "fieldConfig": {"defaults": {"unit": "reqps"}},
                "targets": [
                    {
                        "refId": "A",
                        "datasource": DS,
                        "expr": "sum(rate(x_total[$__rate_interval]))",
                    }
                ],
            },
        ],
    }


def test_a_clean_dashboard_passes() -> None:
    assert lint(_dashboard(), {"x_total"}) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d.update(id=7), "id must be null"),
        (lambda d: d.update(uid="short"), "uid must be 8-40"),
        (lambda d: d.update(schemaVersion=30), "schemaVersion must be 39"),
        (lambda d: d.update(__inputs=[]), "export form"),
        (lambda d: d["templating"].update(list=[]), "exactly one datasource variable"),
        (
            lambda d: d["templating"]["list"].append(
                {"name": "instance", "type": "query", "datasource": {"uid": "prom-1"}}
            ),
            "variable 'instance': datasource uid must be",
        ),
        (lambda d: d["panels"][1].update(type="graph"), "'graph' is not one of"),
        (lambda d: d["panels"][1].update(title=""), "has no title"),
        (lambda d: d["panels"][1]["fieldConfig"].update(defaults={}), "has no unit"),
        (lambda d: d["panels"][1].update(targets=[]), "has no query"),
        (lambda d: d["panels"][1].update(datasource={"uid": "abc"}), "datasource uid must be"),
        (
            lambda d: d["panels"][1]["targets"][0].update(datasource={"uid": "${DS_PROMETHEUS}"}),
            "export form",
        ),
        (lambda d: d["panels"][1]["targets"][0].update(expr="sum(x_total)"), "outside rate"),
        (
            lambda d: d["panels"][1]["targets"][0].update(expr="rate(x_total[5m])"),
            "use [$__rate_interval]",
        ),
        (lambda d: d["panels"][0].update(id=2), "id 2 used twice"),
        (
            lambda d: d["panels"][1]["targets"][0].update(expr="rate(y_total[$__rate_interval])"),
            "does not expose: ['y_total']",
        ),
    ],
)
def test_each_broken_convention_is_reported(change: Any, problem: str) -> None:
    dashboard = copy.deepcopy(_dashboard())
    change(dashboard)
    problems = lint(dashboard, {"x_total"})
    assert any(problem in p for p in problems), problems


def test_panels_inside_collapsed_rows_are_linted() -> None:
    dashboard = _dashboard()
    inner = copy.deepcopy(dashboard["panels"].pop())
    inner["type"] = "singlestat"
    dashboard["panels"][0]["panels"] = [inner]
    assert [p["id"] for p in panels(dashboard)] == [1, 2]
    assert any("'singlestat'" in p for p in lint(dashboard))


def test_counting_a_counters_series_is_not_reading_it() -> None:
    assert counter_problems('count by (instance) (node_cpu_seconds_total{mode="idle"})') == []
    assert counter_problems("sum(node_cpu_seconds_total)") != []


def test_metric_names_ignores_functions_labels_strings_and_variables() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, model) (rate(a_bucket{model=~"$model",'
        'code!="5xx"}[$__rate_interval]))) / on (model) group_left '
        'count(b_info{job="x"}) > bool 1e3 offset 1h and label_replace(c, "d", "$1", "e", "(.*)")'
    )
    assert metric_names(expr) == {"a_bucket", "b_info", "c"}


NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,12}(:[a-z0-9_]{1,6}){0,2}", fullmatch=True).filter(
    lambda n: (
        n
        not in {
            "by",
            "on",
            "or",
            "and",
            "bool",
            "unless",
            "offset",
            "inf",
            "nan",
            "sum",
            "min",
            "max",
        }
        and n not in {"avg", "group", "count", "topk", "bottomk", "stddev", "stdvar", "quantile"}
        and n not in {"without", "ignoring", "group_left", "group_right", "atan2", "count_values"}
    )
)
LABEL_VALUES = st.text(alphabet=st.characters(blacklist_characters='"\\\n'), max_size=12)


@given(name=NAMES, label=LABEL_VALUES, agg=st.sampled_from(["sum", "max", "avg", "count"]))
def test_metric_names_finds_exactly_the_selected_metric(name: str, label: str, agg: str) -> None:
    expr = f'{agg} by (instance) (rate({name}{{job="{label}"}}[$__rate_interval]))'
    assert metric_names(expr) == {name}


@given(a=NAMES, b=NAMES, op=st.sampled_from(["/", "+", "and", "or", "unless", ">"]))
def test_metric_names_of_a_binary_expression_is_the_union(a: str, b: str, op: str) -> None:
    assert metric_names(f"{a} {op} on (x) {b}") == {a, b}


def test_every_shipped_dashboard_is_found_by_panels() -> None:
    for exporter in hub.catalogue():
        assert sum(1 for p in panels(exporter.dashboard()) if p["type"] != "row") >= 4
