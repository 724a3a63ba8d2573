"""Reading an interval for the canary judge: the arithmetic on series, then a real
Prometheus scraping a real baseline and canary every second, and Prometheus failing."""

from __future__ import annotations

import math
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml

from baton.audit.prometheus import Prometheus
from baton.core.canary_judge import JudgeConfig, judge
from baton.core.metric_names import LATENCY_BUCKETS
from baton.errors import BadInput
from baton.rollout.judge_queries import (
    MetricsUnreadable,
    Selector,
    deltas,
    judge_interval,
    read_interval,
    read_variant,
    series_query,
    variant_counts,
)
from baton.store.store import Store
from baton.store.tx import utcnow
from tests.baton_cli import free_port
from tests.monitor.conftest import Running, StartPrometheus, prometheus, prometheus_bin, start
from tests.serve.conftest import LiveServer, Start, live_server, sqlite_settings, toy_store
from tests.serve.test_drift import infer_rows, output_report
from tests.waiting import wait_until

__all__ = ["live_server", "prometheus", "prometheus_bin", "sqlite_settings", "toy_store"]

RNG = np.random.default_rng(3)
CANARY = Selector.of(variant="canary", model="toy")
BASELINE = Selector.of(variant="baseline", model="toy")


# --- the arithmetic -------------------------------------------------------------------


def req(code: str, instance: str = "a") -> dict[str, str]:
    return {"__name__": "baton_requests_total", "code": code, "instance": instance}


def test_deltas_count_growth_restarts_and_new_series() -> None:
    start = [(req("200"), 100.0), (req("500"), 5.0), (req("200", "b"), 40.0), (req("404"), 9.0)]
    end = [
        (req("200"), 130.0),  # grew by 30
        (req("500"), 2.0),  # went down: the process restarted and has counted 2 since
        (req("503"), 4.0),  # born in the interval: counts from 0
        (req("200", "b"), 40.0),  # nothing
    ]  # 404 gone stale: its process stopped, nothing counted
    grown = {(labels["code"], labels["instance"]): v for labels, v in deltas(start, end)}
    assert grown == {("200", "a"): 30, ("500", "a"): 2, ("503", "a"): 4, ("200", "b"): 0}


def bucket(le: str, value: float) -> tuple[dict[str, str], float]:
    return {"__name__": "baton_request_duration_seconds_bucket", "le": le}, value


def test_variant_counts_from_series() -> None:
    series = [
        (req("200"), 90.0),
        (req("200", "b"), 5.0),
        (req("500"), 3.0),
        (req("503"), 1.0),
        (req("400"), 2.0),  # the client's fault: a request, not an error
        (req("499"), 7.0),  # no answer: not a request the judge counts
        bucket("0.001", 10.0),
        bucket("0.005", 60.0),
        bucket("+Inf", 101.0),
        bucket("0.005", 0.0),  # a second series (another instance) adds to the same bucket
        ({"__name__": "baton_output_bin_total", "output": "p[0]", "bin": "+Inf"}, 40.0),
        ({"__name__": "baton_output_bin_total", "output": "p[0]", "bin": "0.5"}, 60.0),
        ({"__name__": "baton_nonfinite_outputs_total"}, 1.0),
    ]
    counts = variant_counts(series, r"5..")
    assert (counts.requests, counts.errors, counts.nonfinite) == (101, 4, 1)
    assert counts.latency is not None
    assert counts.latency.upper_bounds == (0.001, 0.005, math.inf)
    assert counts.latency.counts == (10, 50, 41)
    (output,) = counts.outputs
    assert (output.output, output.histogram.upper_bounds, output.histogram.counts) == (
        "p[0]",
        (0.5, math.inf),
        (60, 40),
    )
    assert variant_counts(series, r"503").errors == 1


def test_no_series_is_no_data_not_zero() -> None:
    counts = variant_counts([], r"5..")
    assert (counts.requests, counts.errors, counts.latency, counts.nonfinite) == (None,) * 4


def test_selectors() -> None:
    assert series_query(Selector.of(variant="canary", model='a"b')) == (
        '{__name__=~"baton_requests_total|baton_request_duration_seconds_bucket|'
        'baton_output_bin_total|baton_nonfinite_outputs_total",model="a\\"b",variant="canary"}'
    )
    with pytest.raises(BadInput, match="label names"):
        Selector.of(**{"bad-label": "x"})
    with pytest.raises(BadInput, match="label names"):
        Selector(())


# --- a real Prometheus over a real baseline and canary ----------------------------------


def scraping(start_prometheus: StartPrometheus, targets: dict[str, LiveServer]) -> Running:
    """Prometheus scraping each server every second, labelled with its variant."""
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "baton",
                "static_configs": [
                    {"targets": [server.url.removeprefix("http://")], "labels": {"variant": v}}
                    for v, server in targets.items()
                ],
            }
        ],
    }
    return start_prometheus(config, [])


def scraped_since(client: Prometheus, since: float) -> bool:
    """Both variants scraped after ``since`` (a scrape's samples carry its start time)."""
    found = client.instant('timestamp(up{job="baton"} == 1)', time.time())
    return len(found) == 2 and all(value >= since for _, value in found)


def counted(client: Prometheus, selector: Selector, want: float) -> bool:
    query = f"sum(baton_requests_total{selector.promql()})"
    found = client.instant(query, time.time())
    return bool(found) and found[0][1] >= want


def test_an_interval_read_from_prometheus_counts_every_request_and_row(
    toy_store: Store, live_server: Start, prometheus: StartPrometheus
) -> None:
    for version in (1, 2):
        toy_store.evaluations.record(
            "toy", version, status="passed", report=output_report(version), actor="tester",
            started_at=utcnow(),
        )  # fmt: skip
    baseline = live_server("toy:1", output_bins_from="toy:1")
    canary = live_server("toy:2", output_bins_from="toy:1", allow_nonfinite=True)
    running = scraping(prometheus, {"baseline": baseline, "canary": canary})
    client = Prometheus(running.url, timeout=10)
    wait_until(lambda: scraped_since(client, 0), "the first scrape of both servers", 60)
    start = time.time()
    wait_until(lambda: scraped_since(client, start), "a scrape after the interval's start", 60)

    sizes = [int(n) for n in RNG.integers(1, 40, 20)]
    for n in sizes:
        infer_rows(canary, RNG.normal(size=(n, 4)).astype(np.float32))
    poisoned = RNG.normal(size=(4, 4)).astype(np.float32)
    poisoned[:2, 1] = np.nan  # two rows whose outputs are NaN
    infer_rows(canary, poisoned)
    bad = canary.client.post("/v2/models/toy/infer", json={"inputs": []})
    assert bad.status_code == 400
    for n in sizes[:15]:
        infer_rows(baseline, RNG.normal(size=(n, 4)).astype(np.float32))
    wait_until(lambda: counted(client, CANARY, 22) and counted(client, BASELINE, 15),
               "Prometheus to see every request", 60)  # fmt: skip
    end = time.time()

    interval = read_interval(client, CANARY, BASELINE, start, end)
    c, b = interval.canary, interval.baseline
    assert (c.requests, c.errors, c.nonfinite) == (22, 0, 2)
    assert (b.requests, b.errors, b.nonfinite) == (15, 0, 0)
    assert c.latency is not None and b.latency is not None
    assert c.latency.upper_bounds == (*LATENCY_BUCKETS, math.inf)
    assert (c.latency.total, b.latency.total) == (22, 15)
    for side, rows in ((c, sum(sizes) + 2), (b, sum(sizes[:15]))):
        assert [o.output for o in side.outputs] == [f"probabilities[{i}]" for i in range(3)]
        assert all(o.histogram.total == rows for o in side.outputs)
    assert [o.histogram.upper_bounds for o in c.outputs] == [
        o.histogram.upper_bounds for o in b.outputs
    ]

    verdict = judge(interval, JudgeConfig.profile("test", min_requests=10))
    assert verdict.decision == "rollback"
    assert verdict.metric("nonfinite").classification == "high"
    assert judge_interval(client, CANARY, BASELINE, start, end).decision == "rollback"

    before = read_variant(client, CANARY, start - 30, start)  # nothing sent back then
    assert before.requests == 0 and before.latency is not None and before.latency.total == 0


def test_unreachable_prometheus_pauses() -> None:
    dead = Prometheus("http://127.0.0.1:9", timeout=2)
    with pytest.raises(MetricsUnreadable, match="unreachable"):
        read_variant(dead, CANARY, 100.0, 160.0)
    verdict = judge_interval(dead, CANARY, BASELINE, 100.0, 160.0)
    assert (verdict.decision, verdict.failed_check) == ("pause", False)
    assert "unreachable" in verdict.reason


def test_an_answer_that_is_not_prometheus_pauses(toy_store: Store, live_server: Start) -> None:
    server = live_server("toy")
    verdict = judge_interval(Prometheus(server.url, timeout=5), CANARY, BASELINE, 100.0, 160.0)
    assert verdict.decision == "pause"
    assert "not a Prometheus HTTP API" in verdict.reason


def test_a_query_prometheus_refuses_pauses(
    toy_store: Store, live_server: Start, prometheus_bin: Path, tmp_path: Path
) -> None:
    """A Prometheus held to one sample a query refuses the judge's (several series)."""
    server = live_server("toy")
    target = {"targets": [server.url.removeprefix("http://")], "labels": {"variant": "canary"}}
    scrape = {"job_name": "baton", "static_configs": [target]}
    config = tmp_path / "prometheus.yml"
    document = {"global": {"scrape_interval": "1s"}, "scrape_configs": [scrape]}
    config.write_text(yaml.safe_dump(document), encoding="utf-8")
    port = free_port()
    argv = [
        str(prometheus_bin),
        f"--config.file={config}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        "--query.max-samples=1",
        "--log.level=warn",
    ]
    running = start("prometheus", argv, port, "/-/ready", tmp_path)
    try:
        client = Prometheus(running.url, timeout=10)
        wait_until(lambda: scraped(running.url), "the first scrape", 60)
        verdict = judge_interval(client, CANARY, BASELINE, time.time() - 5, time.time())
    finally:
        running.stop()
    assert verdict.decision == "pause"
    assert "refused" in verdict.reason and "too many samples" in verdict.reason


def scraped(url: str) -> bool:
    """The target is up (asked of the targets API: this Prometheus answers no query)."""
    targets = httpx.get(f"{url}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    return bool(targets) and all(t["health"] == "up" for t in targets)


def test_an_interval_must_end_after_it_starts() -> None:
    with pytest.raises(BadInput, match="end after it starts"):
        read_variant(Prometheus("http://127.0.0.1:9"), CANARY, 160.0, 100.0)
