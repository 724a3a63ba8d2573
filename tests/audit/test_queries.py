"""The audit's PromQL as text: few queries over the whole fleet, each one Prometheus parses."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from baton.audit.queries import (
    LOOKBACK_S,
    PLOT_POINTS,
    STAT_POINTS,
    Queries,
    choose_steps,
    nice_step,
    series_queries,
    window_queries,
)
from baton.core.metric_names import MODEL_INFO
from tests.monitor.conftest import need

DAY = 86400
# a label matcher on one of these would pick out a single deployment or replica
ONE_DEPLOYMENT = re.compile(r'\b(model|version|instance|pod)\s*(=|!=|=~|!~)\s*"')


def every_query(q: Queries, pods: bool, plot_s: float = 3600) -> dict[str, str]:
    return {
        "p99_ms": q.latency_p99_ms_timeline(plot_s),
        **window_queries(q, pods),
        **series_queries(q, pods),
    }


@given(st.floats(60, 400 * DAY), st.sampled_from([60.0, 300.0, 900.0, 1800.0]))
def test_steps_respect_the_point_limits(window: float, rate: float) -> None:
    step, plot = choose_steps(window, rate)
    assert step >= rate
    assert plot >= step
    assert window / step <= STAT_POINTS or step >= DAY
    assert window / plot <= PLOT_POINTS or plot >= DAY
    assert window / plot <= 11000


@given(st.floats(0.5, 10 * DAY))
def test_nice_step_is_the_smallest_at_least(seconds: float) -> None:
    step = nice_step(seconds)
    assert step >= seconds
    assert nice_step(step) == step


# raw lines per replica and per GPU server, deduplicated and joined to their models in
# the client (audit.observe_joins): Prometheus would redo that at every step
PER_REPLICA = {"info", "cpu", "memory"}
PER_INSTANCE = {"gpu", "gpu_memory"}


@pytest.mark.parametrize("pods", [False, True])
def test_every_query_groups_by_deployment_replica_or_pod(pods: bool) -> None:
    q = Queries(900, 14 * DAY, 900, ("serving",) if pods else ())
    for name, text in every_query(q, pods).items():
        assert not ONE_DEPLOYMENT.search(text), name
        if name in PER_REPLICA:
            assert MODEL_INFO in text, name  # only baton's servers
            continue
        grouping = "by (model, version"
        if name.startswith("pod_"):
            grouping = "by (namespace, pod)"
        elif name in PER_INSTANCE:
            grouping = "by (instance)"
        assert grouping in text, name


def test_process_metrics_only_of_servers_with_a_model() -> None:
    """Every exporter has process_cpu_seconds_total: only baton's servers' are asked for."""
    q = Queries(900, 14 * DAY, 900)
    for text in (q.cpu(900), q.memory):
        assert text.endswith(f" and on (instance) last_over_time({MODEL_INFO}[900s])")


@given(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,20}", fullmatch=True), min_size=1, max_size=50))
def test_the_query_set_does_not_grow_with_the_fleet(namespaces: list[str]) -> None:
    one = every_query(Queries(300, 7 * DAY, 300, ("serving",)), pods=True)
    many = every_query(Queries(300, 7 * DAY, 300, tuple(namespaces)), pods=True)
    assert many.keys() == one.keys()
    assert len(one) == 16  # and one retention look-up: 17 HTTP calls in all


def test_pod_queries_only_with_namespaces() -> None:
    names = every_query(Queries(300, DAY, 300), pods=False)
    assert not [n for n in names if n.startswith("pod_")]


def test_sparse_gauges_get_a_range_beyond_the_default_lookback() -> None:
    short = Queries(LOOKBACK_S, DAY, LOOKBACK_S)
    assert "last_over_time" not in short.info + short.memory + short.gpu
    long = Queries(900, DAY, 900)
    assert f"last_over_time({MODEL_INFO}[900s])" in long.info
    assert "last_over_time(process_resident_memory_bytes[900s])" in long.memory


def test_window_latency_is_an_increase_and_the_timeline_a_rate() -> None:
    q = Queries(900, DAY, 900)
    assert f"increase(baton_request_duration_seconds_bucket[{DAY}s])" in q.latency_p99(DAY)
    timeline = q.latency_p99_ms_timeline(3600)
    assert "rate(baton_request_duration_seconds_bucket[3600s])" in timeline
    assert timeline.endswith(" * 1000")
    # never finer than the rate window
    assert "[900s]" in q.latency_p99_ms_timeline(60)


@pytest.mark.parametrize("rate_s", [60, 900])
def test_dcgm_reads_either_pod_labelling_in_the_audited_namespaces(rate_s: int) -> None:
    q = Queries(rate_s, DAY, rate_s, ("serving", "ml-serving"))
    wanted = '=~"serving|ml\\\\-serving"'
    for text in (q.dcgm, q.dcgm_memory):
        assert f"{{namespace{wanted}}}" in text
        assert f"{{exported_namespace{wanted}}}" in text
        # exported_* become namespace and pod inside the grouping by them
        assert text.startswith(
            (
                "avg by (namespace, pod) (label_replace(label_replace((",
                "sum by (namespace, pod) (label_replace(label_replace((",
            )
        )
        assert '"namespace", "$1", "exported_namespace", "(.+)"), "pod", "$1",' in text
        assert text.endswith(
            ('"exported_pod", "(.+)")) / 100', '"exported_pod", "(.+)")) * 1048576')
        )


@pytest.mark.parametrize(
    ("rate_s", "namespaces"),
    [(60, ()), (900, ("serving",)), (300, ("ml-serving", "batch", "team.a"))],
)
def test_prometheus_parses_every_query(
    rate_s: int, namespaces: tuple[str, ...], tmp_path: Path
) -> None:
    q = Queries(rate_s, 14 * DAY, rate_s, namespaces)
    rules = [
        {"record": f"audit:{name}", "expr": text}
        for name, text in every_query(q, bool(namespaces)).items()
    ]
    rule_file = tmp_path / "audit.rules.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "audit", "rules": rules}]}))
    checked = subprocess.run(
        [str(need("promtool")), "check", "rules", str(rule_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
