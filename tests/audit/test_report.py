"""The HTML report: complete and offline, and drawn for real by headless Chromium."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import plotly.offline
import pytest

from baton.audit.observed import Observed, Series
from baton.audit.prices import parse_prices
from baton.audit.report import render_html
from baton.audit.result import AuditResult, Row, SizingTarget
from baton.core.inventory import Deployment, Resources
from baton.core.rightsizing import recommend
from baton.core.sizing import Allocation, ObservedUsage
from testkit.sample import sample_result

PLOT = re.compile(r'<div id="([^"]+)" class="plotly-graph-div')


def chromium() -> str:
    """Debian's Chromium, or skip (fail under CI) naming the package."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    message = "Chromium is not installed (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def rendered(html: str, tmp_path: Path) -> tuple[str, str]:
    """The DOM after the page's scripts ran in headless Chromium, and its console log."""
    page = tmp_path / "report.html"
    page.write_text(html, encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="baton-chromium-") as profile:
        done = subprocess.run(
            [
                chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                "--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
            ],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    console = "\n".join(line for line in done.stderr.splitlines() if ":CONSOLE" in line)
    return done.stdout, console


def plots(dom: str) -> dict[str, str]:
    """Each plot div's id and its DOM, up to the next plot."""
    found = list(PLOT.finditer(dom))
    ends = [m.start() for m in found[1:]] + [len(dom)]
    return {m.group(1): dom[m.start() : end] for m, end in zip(found, ends, strict=True)}


def test_every_deployment_with_its_reasons_and_the_example_prices_banner() -> None:
    result = sample_result()
    html = render_html(result)
    assert html.startswith("<!doctype html>")
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js inlined, no CDN
    assert not re.search(r"<link[^>]+href=\"?http", html)
    assert html.count(plotly.offline.get_plotlyjs()) == 1  # inlined once
    ours = html.replace(plotly.offline.get_plotlyjs(), "")  # plotly.js names its own CDN
    assert set(re.findall(r"https?://[^\s\"'<]+", ours)) == {result.prometheus_url}
    assert html.count("Plotly.newPlot") == len(PLOT.findall(html))
    assert "Example prices." in html and "example prices" in html
    assert result.prometheus_url in html
    for query in result.settings["queries"]:
        assert query in html
    for row in result.rows:
        assert f">{row.deployment.name}<" in html  # in the table and in the details
        assert f'id="d{result.sorted_rows().index(row)}"' in html
        for reason in row.recommendation.reasons:
            assert reason.replace(">", "&gt;") in html
    ocr = result.sorted_rows().index(next(r for r in result.rows if r.deployment.name == "doc-ocr"))
    assert "Missing data: cpu, memory" in html
    assert f'id="d{ocr}-usage"' in html  # 30% of the window still charts what it holds


def test_own_prices_drop_the_banner() -> None:
    prices = parse_prices({"currency": "EUR", "cpu": {"core_hour": 0.03, "gib_hour": 0.004}})
    html = render_html(replace(sample_result(), prices=prices.to_report()))
    assert "Example prices." not in html and "example prices" not in html
    assert "EUR" in html


def test_only_the_top_deployments_get_details_but_all_are_listed() -> None:
    result = sample_result(extra=30)
    html = render_html(result, top=5)
    assert "the first 5 of 39" in " ".join(html.split())
    for row in result.rows:
        assert f">{row.deployment.name}<" in html
    assert len([p for p in PLOT.findall(html) if p.endswith("-usage")]) == 5
    assert 'id="d5"' not in html


def test_a_deployment_without_data_shows_what_is_missing_not_charts() -> None:
    deployment = Deployment(
        name="ghost</script><b>", model="ghost", version="1", replicas=2,
        resources=Resources(cores=1, memory_bytes=2**30),
    )  # fmt: skip
    rec = recommend(ObservedUsage(coverage=0.0), Allocation(2, 1, 2**30), None, 50)
    empty = Observed(
        ObservedUsage(coverage=0.0),
        missing=("requests", "latency", "cpu", "memory"),
        timeline={"rps": Series((0.0, 60.0), (math.nan, math.nan))},
    )
    rows = (
        Row(deployment, None, rec, SizingTarget(replicas=None), 50, "no profile"),
        Row(
            deployment.model_copy(update={"name": "empty", "version": "2"}),
            empty, rec, SizingTarget(replicas=None), 50, "no profile",
        ),
    )  # fmt: skip
    html = render_html(AuditResult("http://p:9090", 0, 3600, 60, 60, 3, 0.1, rows, {}))
    assert "ghost&lt;/script&gt;&lt;b&gt;" in html and "ghost</script><b>" not in html
    assert "Missing data: every metric (no series matched)" in html
    assert "Missing data: requests, latency, cpu, memory" in html
    assert html.count("No charts: Prometheus returned no samples") == 2
    assert not [p for p in PLOT.findall(html) if p.startswith("d")]
    assert "insufficient data" in html


def test_chromium_draws_every_chart_without_a_script_error(tmp_path: Path) -> None:
    result = sample_result()
    html = render_html(result)
    dom, console = rendered(html, tmp_path)
    assert console == ""  # no console errors, no uncaught exceptions
    assert re.search(r'<div id="js-errors" class="errors" hidden(="")?></div>', dom)
    drawn = plots(dom)
    assert set(drawn) == set(PLOT.findall(html))
    assert {"fleet-cost", "fleet-savings", "fleet-capacity", "d0-usage", "d0-daily"} <= set(drawn)
    for div_id, part in drawn.items():
        assert '<svg class="main-svg"' in part, f"{div_id} was not drawn"
    usage = drawn["d0-usage"]
    for legend in ("capacity now", "capacity recommended", "CPU request", "memory limit"):
        assert legend in usage


def test_the_page_reports_its_own_script_errors(tmp_path: Path) -> None:
    broken = render_html(sample_result()).replace("Plotly.newPlot(", "Plotly.noSuchPlot(", 1)
    dom, console = rendered(broken, tmp_path)
    assert "Charts failed to draw: Uncaught TypeError" in dom
    assert "Uncaught TypeError" in console
