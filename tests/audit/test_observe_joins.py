"""The joins done on the answers' arrays give what Prometheus' own joins gave, point for point.

Hand-made answers for each rule, then a real Prometheus holding the awkward cases (a server
shared by two models, one scraped by two jobs, an info line with a gap, a NaN, a process
that is not baton's, a deployment up but never asked anything): the server-side joins the
audit used to send against the client-side ones on the new queries, for equality.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from baton.audit.observe_joins import join_answers
from baton.audit.prometheus import Prometheus, RangeResult
from baton.audit.queries import Queries, series_queries
from baton.core.metric_names import (
    GPU_MEMORY_USED,
    GPU_UTILIZATION,
    MODEL_INFO,
    PROCESS_CPU,
    PROCESS_RESIDENT_MEMORY,
)
from testkit.backfill import backfill
from tests.audit.conftest import RATE_WINDOW_S, Backfilled, start_tsdb_prometheus
from tests.monitor.conftest import Running, need

GRID = np.arange(60.0, 660.0, 60.0)  # ten points
A1 = {"instance": "s1", "model": "a", "version": "1"}
B1 = {"instance": "s1", "model": "b", "version": "1"}  # a second model on server s1
A2 = {"instance": "s2", "model": "a", "version": "1"}


def line(labels: dict[str, str], values: list[float | None]) -> RangeResult:
    """One answer series on GRID; None is a point Prometheus did not return."""
    keep = [i for i, v in enumerate(values) if v is not None]
    vs = np.array([values[i] for i in keep], dtype=np.float64)
    return [(labels, GRID[keep], vs)]


def as_lists(rows: RangeResult) -> list[tuple[dict[str, str], list[float], list[float]]]:
    return [(labels, ts.tolist(), vs.tolist()) for labels, ts, vs in rows]


def same(got: RangeResult, want: RangeResult) -> bool:
    """Equal labels, order, timestamps, and values to the last bits (NaN equal to NaN).

    Not bit for bit: Prometheus 2.42 itself is not. A range query's intermediate series
    come out of a Go map in random order, so a ``sum`` over replicas adds them in another
    order each time, and one query asked twice differs in the last bit at some points
    (the request rate: 13 points in 20 asks of one day of the fixture fleet).
    """
    return len(got) == len(want) and all(
        g[0] == w[0]
        and np.array_equal(g[1], w[1])
        and g[2].shape == w[2].shape
        and np.allclose(g[2], w[2], rtol=1e-12, atol=0, equal_nan=True)
        for g, w in zip(got, want, strict=True)
    )


N = None
ONES = [1.0] * 10


def test_replicas_count_the_info_lines_present() -> None:
    info = line(A1, ONES) + line(A2, [N, N, 1, 1, 1, 1, 1, 1, N, N]) + line(B1, ONES)
    got = join_answers({"info": info}, GRID)["replicas"]
    assert as_lists(got) == [
        ({"model": "a", "version": "1"}, GRID.tolist(), [1, 1, 2, 2, 2, 2, 2, 2, 1, 1]),
        ({"model": "b", "version": "1"}, GRID.tolist(), [1.0] * 10),
    ]


def test_a_server_up_and_never_asked_served_zero() -> None:
    info = line(A1, [N, 1, 1, 1, 1, 1, 1, 1, 1, N]) + line(B1, ONES)
    rps = line({"model": "a", "version": "1"}, [N, N, 2, 3, N, math.nan, 4, 4, 4, 4])
    got = join_answers({"info": info, "rps": rps}, GRID)["rps"]
    a, b = as_lists(got)
    # a: its rate where counted (a NaN it returned stays), 0 while up, nothing before
    assert a[1] == GRID[1:].tolist()
    assert a[2][:4] == [0.0, 2.0, 3.0, 0.0]
    assert math.isnan(a[2][4])
    assert a[2][5:] == [4.0] * 4
    assert b == ({"model": "b", "version": "1"}, GRID.tolist(), [0.0] * 10)


def test_each_model_on_a_server_gets_its_figures_where_both_have_a_point() -> None:
    info = line(A1, [N, 1, 1, 1, 1, 1, 1, 1, 1, 1]) + line(B1, ONES) + line(A2, ONES)
    cpu = line({"instance": "s1"}, [0.5, 0.5, N, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    cpu += line({"instance": "s9"}, ONES)  # no model there: dropped
    got = join_answers({"info": info, "cpu": cpu}, GRID)
    a1, b1 = as_lists(got["cpu"])  # A2's server has no CPU line: no series for it
    assert a1 == (A1, [GRID[1], *GRID[3:]], [0.5] * 8)
    assert b1 == (B1, [GRID[0], GRID[1], *GRID[3:]], [0.5] * 9)
    assert "info" not in got
    assert "memory" not in got  # not asked: not made up


def test_a_replica_scraped_by_two_jobs_counts_once_at_its_largest() -> None:
    info = line({**A1, "job": "x", "alias": "prod"}, ONES) + line({**A1, "job": "y"}, ONES)
    nan = math.nan
    cpu = line({"instance": "s1", "job": "x"}, [1, nan, N, 2, nan, N, N, N, N, N])
    cpu += line({"instance": "s1", "job": "y"}, [3, 1, 1, N, nan, N, N, N, N, N])
    got = join_answers({"info": info, "cpu": cpu}, GRID)
    assert as_lists(got["replicas"]) == [({"model": "a", "version": "1"}, GRID.tolist(), ONES)]
    ((labels, ts, vs),) = as_lists(got["cpu"])
    assert labels == A1  # the grouping's labels only
    assert ts == GRID[:5].tolist()
    # PromQL's max: a NaN only where every series present is NaN
    assert vs[:4] == [3.0, 1.0, 1.0, 2.0]
    assert math.isnan(vs[4])


def test_other_answers_pass_through() -> None:
    p99 = line({"model": "a", "version": "1"}, ONES)
    pod = line({"namespace": "serving", "pod": "a-0"}, ONES)
    got = join_answers({"p99_ms": p99, "pod_cpu": pod}, GRID)
    assert got["p99_ms"] is p99
    assert got["pod_cpu"] is pod
    assert got["replicas"] == []
    assert got["rps"] == []


# A real Prometheus: 2 hours at one sample a minute.
T0 = 1_700_000_000
MINUTES = 121


def _openmetrics() -> str:
    """The awkward cases, as OpenMetrics for promtool."""
    out: list[str] = []

    def family(name: str, kind: str, series: dict[str, list[float | None]]) -> None:
        out.append(f"# TYPE {name.removesuffix('_total')} {kind}\n")
        for labels, values in series.items():
            for k, v in enumerate(values):
                if v is not None:
                    shown = "NaN" if math.isnan(v) else repr(v)
                    out.append(f"{name}{{{labels}}} {shown} {T0 + 60 * k}\n")

    every = [1.0] * MINUTES
    half = [None] * (MINUTES // 2) + [1.0] * (MINUTES - MINUTES // 2)
    family(
        "baton_model_info",
        "gauge",
        {
            'model="a",version="1",instance="s1",job="baton"': every,
            'model="b",version="2",instance="s1",job="baton"': every,  # shared server
            'model="c",version="1",instance="s2",job="baton"': every,
            'model="c",version="1",instance="s2",job="again"': half,  # scraped twice
            'model="d",version="1",instance="s3",job="baton"': half,  # came up late
            'model="e",version="1",instance="s4",job="baton"': every,  # no process metrics
        },
    )
    counter = [float(k * 7) for k in range(MINUTES)]
    family(
        "baton_requests_total",
        "counter",
        {
            'model="a",version="1",code="200",instance="s1",job="baton"': counter,
            'model="a",version="1",code="500",instance="s1",job="baton"': counter,
            'model="c",version="1",code="200",instance="s2",job="baton"': counter[:80],
            'model="c",version="1",code="200",instance="s2",job="again"': counter[:80],
        },
    )
    cpu = [round(k * 0.37, 3) for k in range(MINUTES)]
    family(
        PROCESS_CPU,
        "counter",
        {
            'instance="s1",job="baton"': cpu,
            'instance="s2",job="baton"': cpu,
            'instance="s2",job="again"': [v * 1.5 for v in cpu],  # max by instance
            'instance="s3",job="baton"': cpu,
            'instance="node",job="node"': cpu,  # not a baton server
        },
    )
    memory: list[float | None] = [1e8 + 1e5 * k for k in range(MINUTES)]
    with_nan = list(memory)
    with_nan[90] = math.nan  # while its info line is there
    family(
        PROCESS_RESIDENT_MEMORY,
        "gauge",
        {'instance="s1",job="baton"': memory, 'instance="s3",job="baton"': with_nan},
    )
    gpu = {'instance="s2",job="baton",gpu="0"': [0.5] * MINUTES}
    gpu['instance="s2",job="baton",gpu="1"'] = [0.25] * 40 + [None] * (MINUTES - 40)
    family(GPU_UTILIZATION, "gauge", gpu)
    family(GPU_MEMORY_USED, "gauge", {k: [2e9] * MINUTES for k in gpu})
    return "".join(out) + "# EOF\n"


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    root = tmp_path_factory.mktemp("joins")
    source = root / "awkward.om"
    source.write_text(_openmetrics())
    backfill([source], root / "tsdb", need("promtool"))
    running = start_tsdb_prometheus(root / "tsdb", root)
    yield running
    running.stop()


def server_side(q: Queries) -> dict[str, str]:
    """The joins as the audit sent them to Prometheus before they moved to the client."""
    info = f"max by (model, version, instance) ({q.gauge(MODEL_INFO)})"
    replicas = f"count by (model, version) ({info})"

    def joined(per_instance: str) -> str:
        return f"{info} * on (instance) group_left () {per_instance}"

    return {
        "replicas": replicas,
        "rps": f"{q.requests('rate', q.rate_s)} or (0 * {replicas})",
        "cpu": joined(f"max by (instance) (rate({PROCESS_CPU}[{q.rate_s}s]))"),
        "memory": joined(f"max by (instance) ({q.gauge(PROCESS_RESIDENT_MEMORY)})"),
        "gpu": joined(f"avg by (instance) (max by (instance, gpu) ({q.gauge(GPU_UTILIZATION)}))"),
        "gpu_memory": joined(
            f"sum by (instance) (max by (instance, gpu) ({q.gauge(GPU_MEMORY_USED)}))"
        ),
    }


@pytest.mark.parametrize(("rate_s", "step_s"), [(120, 60), (600, 300)])
def test_the_joins_equal_prometheus_own(awkward: Running, rate_s: int, step_s: int) -> None:
    start, end = float(T0 + 600), float(T0 + 60 * (MINUTES - 1))
    grid = np.arange(start, end + step_s / 2, step_s)
    q = Queries(rate_s, round(end - start), step_s)
    with Prometheus(awkward.url) as prom:
        ask = {name: prom.range(text, start, end, step_s) for name, text in server_side(q).items()}
        raw = {
            name: prom.range(text, start, end, step_s)
            for name, text in series_queries(q, pods=False).items()
        }
    got = join_answers(raw, grid)
    for name, want in ask.items():
        assert want, name  # each case has data
        assert same(got[name], want), name
    # the cases are there: a shared server, a NaN, a replica up and never asked
    assert len(got["cpu"]) == 4  # a and b on s1, c on s2, d on s3
    assert any(np.isnan(vs).any() for _, _, vs in got["memory"])
    assert {labels["model"] for labels, _, vs in got["rps"] if (vs == 0).all()} >= {"d", "e"}
    assert {labels["instance"] for labels, _, _ in raw["cpu"]} == {"s1", "s2", "s3"}


def test_the_fixture_fleet_joins_equal_prometheus_own(backfilled: Backfilled) -> None:
    """The same on the synthetic fleet the usage tests read (autoscaled, gappy, GPU)."""
    end = float(backfilled.fleet.timestamps()[-1])
    start = end - 86400
    grid = np.arange(start, end + RATE_WINDOW_S / 2, RATE_WINDOW_S)
    q = Queries(RATE_WINDOW_S, round(end - start), RATE_WINDOW_S)
    with Prometheus(backfilled.url) as prom:
        ask = {
            name: prom.range(text, start, end, RATE_WINDOW_S)
            for name, text in server_side(q).items()
        }
        raw = {
            name: prom.range(text, start, end, RATE_WINDOW_S)
            for name, text in series_queries(q, pods=False).items()
        }
    got = join_answers(raw, grid)
    for name, want in ask.items():
        assert want, name
        assert same(got[name], want), name
