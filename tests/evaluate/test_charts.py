"""The report's figures as Plotly objects: ranges from the data, directions said, legends short.

Chromium drawing them inside the page is tested in test_report.py.
"""

from __future__ import annotations

import math
from dataclasses import asdict

from baton.core import manifest
from baton.core.evaluation import ProfileSummary
from baton.evaluate import charts
from baton.evaluate.profiler import Point

SLO = {"p99_latency_ms": 20, "min_throughput_rps": 500}


def full_profile() -> ProfileSummary:
    """A full profile's shape: 2 precisions x 5 threads/concurrency x 3 optimisation levels
    = 30 series of 5 batch sizes, at rates up to millions of rows/s (a tiny model)."""
    points = []
    for precision in ("fp32", "int8"):
        for threads, concurrency in ((1, 1), (1, 2), (1, 4), (2, 1), (2, 2)):
            for opt in ("basic", "extended", "all"):
                for batch in (1, 4, 16, 64, 256):
                    ms = 0.005 * batch**0.8 * (1.3 if opt == "basic" else 1.0)
                    rate = batch * concurrency / ms * 1000
                    cost = {"p50_ms": ms, "p95_ms": ms * 1.2, "p99_ms": ms * 1.5}
                    served = {"served_p50_ms": 2 * ms, "served_p99_ms": 3 * ms}
                    point = Point("CPUExecutionProvider", threads, opt, precision, batch,
                                  concurrency, threads * concurrency, 0, 100, **cost,
                                  throughput_rps=rate, **served)  # fmt: skip
                    points.append(point)
    return ProfileSummary.model_validate({
        "points": [{**asdict(p), "key": p.key, "config": p.config_key} for p in points],
        "recommended_point": points[-1].key,
    })  # fmt: skip


def test_the_latency_chart_ranges_over_its_data_and_slo_not_to_10_to_the_21() -> None:
    profile = full_profile()
    fig = charts.latency_throughput(profile, manifest.SLO.model_validate(SLO))
    layout = fig.layout
    served = [p.served_p99_ms for p in profile.points]
    low, high = layout.yaxis.range
    assert 10**low < min(served) and 10**high > max(max(served), SLO["p99_latency_ms"])
    assert high - low < 5  # decades: no stray exponent stretches it
    rates = [p.throughput_rps for p in profile.points]
    low, high = layout.xaxis.range
    assert 10**low < SLO["min_throughput_rps"] and 10**high > max(rates)
    assert all(a.yref != "y" for a in layout.annotations)  # none placed in log data units
    assert layout.xaxis.title.text == "rows/s, in-process"


def test_thirty_series_fold_into_one_legend_entry_per_thread_and_concurrency() -> None:
    profile = full_profile()
    fig = charts.latency_throughput(profile, manifest.SLO.model_validate(SLO))
    legend = [t.name for t in fig.data if t.showlegend is not False]
    assert legend == [
        "1 thread(s), 1 at a time",
        "1 thread(s), 2 at a time",
        "1 thread(s), 4 at a time",
        "2 thread(s), 1 at a time",
        "2 thread(s), 2 at a time",
        "SLO: p99 ≤ 20 ms",
        "SLO: ≥ 500 req/s",
        "recommended",
    ]
    series = [t for t in fig.data if t.legendgroup and not t.name.startswith("SLO")]
    assert len(series) == 30 and sum(len(t.x) for t in series) == len(profile.points)
    assert {t.legendgroup for t in series} == set(legend[:5])  # a click hides a whole group
    assert fig.layout.legend.orientation == "h"
    panels = [a.text for a in fig.layout.annotations]
    assert panels == ["fp32 model", "int8 model"]


def test_each_difference_has_its_own_scale_and_its_better_side() -> None:
    regression = {
        "confidence": 0.9,
        "gated": ["accuracy"],
        "deltas": [
            {"name": "accuracy", "delta": 0.002, "low": -0.006, "high": 0.013,
             "candidate": 0.98, "baseline": 0.978, "higher_is_better": True},
            {"name": "log_loss", "delta": 0.05, "low": -0.09, "high": 0.2,
             "candidate": 0.1, "baseline": 0.05, "higher_is_better": False},
            {"name": "top_5_accuracy", "delta": 0.0, "low": 0.0, "high": 0.0,
             "candidate": 1.0, "baseline": 1.0, "higher_is_better": True},
            {"name": "ece", "delta": None, "low": None, "high": None,
             "candidate": 0.1, "baseline": None, "higher_is_better": False},
        ],
    }  # fmt: skip
    fig = charts.deltas(regression)
    titles = [a.text for a in fig.layout.annotations if "is better" in a.text]
    assert titles == [
        "<b>accuracy</b>: higher is better · gated",
        "<b>log_loss</b>: lower is better",
        "<b>top_5_accuracy</b>: higher is better",
    ]
    assert fig.layout.xaxis.range != fig.layout.xaxis2.range  # not one shared difference axis
    assert fig.layout.xaxis3.range[1] >= 1e-3  # no difference at all: still a readable scale
    shaded = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [math.copysign(1, s.x1) for s in shaded] == [1.0, -1.0, 1.0]
    assert "90% bootstrap" in fig.layout.title.text


def test_recall_per_class_beside_the_baseline_and_the_lowest_of_many() -> None:
    fig = charts.per_class_recall({"cat": 0.9, "dog": 0.7}, {"cat": 0.95, "dog": 0.6})
    assert [t.name for t in fig.data] == ["this version", "baseline"]
    assert list(fig.data[0].y) == [0.9, 0.7] and list(fig.data[1].y) == [0.95, 0.6]
    many = {f"c{i}": i / 100 for i in range(100)}
    fig = charts.per_class_recall(many, None)
    assert list(fig.data[0].x) == [f"c{i}" for i in range(charts.MAX_RECALL_BARS)]
    assert f"the {charts.MAX_RECALL_BARS} lowest of 100 classes" in fig.layout.title.text
