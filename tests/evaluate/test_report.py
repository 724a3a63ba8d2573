"""The report rendered from a real evaluation: offline HTML with charts, and summary rows."""

from __future__ import annotations

import html as html_text
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from baton.core.refs import Ref
from baton.evaluate.report import metric_rows, recommended_rows, render_html, summary_rows
from baton.evaluate.service import evaluate
from baton.examples.digits import NAME
from baton.handover.register import register_handover
from baton.store.evaluations import EvaluationRecord
from baton.store.store import Store
from tests.audit.test_report import rendered
from tests.evaluate.conftest import crashing_model, weights, write_digits_like
from tests.evaluate.test_charts import full_profile

# Reads, once Plotly has drawn, each chart's axis ranges and legend as Chromium holds them.
PROBE = """<script>
window.addEventListener("load", () => setTimeout(() => {
  const plots = [...document.querySelectorAll(".js-plotly-plot")].map((gd) => {
    const layout = gd._fullLayout, axes = {};
    for (const k of Object.keys(layout)) {
      if (/^[xy]axis[0-9]*$/.test(k)) axes[k] = {type: layout[k].type, range: layout[k].range};
    }
    const bar = gd.querySelector(".legend .scrollbar");
    return {
      title: (layout.title && layout.title.text) || "", axes,
      legend: gd._fullData.filter((t) => t.showlegend).map((t) => t.name),
      scrollbar: bar ? Number(bar.getAttribute("height") || 0) : 0,
    };
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(plots);
  document.body.appendChild(out);
}, 100));
</script>"""


def drawn(html: str, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Each chart as Chromium drew it, by the start of its title."""
    dom, console = rendered(html.replace("</body>", PROBE + "</body>"), tmp_path)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, console[-2000:]
    plots = json.loads(html_text.unescape(found.group(1)))
    return {p["title"].split("<br>")[0].split(" (")[0].strip(): p for p in plots}


def compared(store: Store, digits_source: Path, digits_retrain: Path) -> EvaluationRecord:
    register_handover(store, digits_source, actor="r")
    store.registry.set_alias(NAME, "production", 1, "s")
    register_handover(store, digits_retrain, actor="r")
    return evaluate(store, Ref(NAME, 2), actor="ci", mode="quick")


def test_html_is_self_contained_with_the_charts(
    sqlite_store: Store, digits_source: Path, digits_retrain: Path
) -> None:
    register_handover(sqlite_store, digits_source, actor="r")
    sqlite_store.registry.set_alias(NAME, "production", 1, "s")
    register_handover(sqlite_store, digits_retrain, actor="r")
    record = evaluate(sqlite_store, Ref(NAME, 2), actor="ci", mode="quick")
    html = render_html(record)
    assert html.startswith("<!doctype html>")
    assert not re.search(r"<script[^>]+src=", html)  # plotly.js is inlined, no CDN
    assert not re.search(r"<link[^>]+href=\"http", html)
    assert "Plotly.newPlot" in html
    assert html.count("Plotly.newPlot") == 4  # latency-throughput, recall, confusion, deltas
    for text in (
        "Confusion matrix",
        "bootstrap intervals",
        "Latency and throughput",
        "Recommended serving configuration",
        "disagree most",
        "digits-classifier:2",
    ):
        assert text in html
    rows = dict((name, status) for name, status, _ in summary_rows(record.report))
    assert rows == {
        "parity": "passed",
        "regression": "passed",
        "sanity": "passed",
        "performance": "passed",
    }
    metrics = {m[0]: m for m in metric_rows(record.report)}
    assert metrics["accuracy"][4] == str((record.report.claimed or {})["accuracy"])
    assert metrics["accuracy"][1] == "higher" and metrics["log_loss"][1] == "lower"
    assert "confusion_matrix" not in metrics and "per_class_recall" not in metrics


def test_an_error_record_renders_its_error(
    sqlite_store: Store, digits_source: Path, tmp_path: Path
) -> None:
    import numpy as np
    import onnx

    data = np.load(digits_source / "eval.npz")
    x = data["input"].copy()
    x[:, 0] = 1.0
    w, b = weights(onnx.load(str(digits_source / "model.onnx")))
    folder = write_digits_like(tmp_path / "crash", crashing_model(w, b), x, data["label"])
    version = register_handover(sqlite_store, folder, actor="r").version.number
    record = evaluate(sqlite_store, Ref(NAME, version), actor="ci", mode="quick")
    html = render_html(record)
    assert record.status == "error"
    assert "Error" in html and "failed on rows" in html
    assert summary_rows(record.report) == []


def test_chromium_draws_charts_that_read_right(
    sqlite_store: Store, digits_source: Path, digits_retrain: Path, tmp_path: Path
) -> None:
    record = compared(sqlite_store, digits_source, digits_retrain)
    full = full_profile()  # a full profile's 30 series
    assert record.report.profile is not None
    profile = record.report.profile.model_copy(
        update={"points": full.points, "recommended_point": full.recommended_point}
    )
    html = render_html(
        replace(record, report=record.report.model_copy(update={"profile": profile}))
    )
    plots = drawn(html, tmp_path)
    assert set(plots) == {
        "Latency and throughput per configuration",
        "Recall per class",
        "Confusion matrix",
        "This version minus the baseline, with 95% bootstrap intervals",
    }
    latency = plots["Latency and throughput per configuration"]
    served = [p.served_p99_ms for p in profile.points]
    for axis in ("yaxis", "yaxis2"):
        low, high = latency["axes"][axis]["range"]  # log10 units, as Plotly holds them
        assert latency["axes"][axis]["type"] == "log"
        assert min(served) / 10 < 10**low < min(served) and 20 < 10**high < 200
    assert len(latency["legend"]) == 8 and latency["scrollbar"] == 0  # no scrolling legend
    deltas = plots["This version minus the baseline, with 95% bootstrap intervals"]
    shown = [d for d in (record.report.regression or {})["deltas"] if d["delta"] is not None]
    assert len([a for a in deltas["axes"] if a.startswith("xaxis")]) == len(shown)
    recall = plots["Recall per class"]
    assert recall["legend"] == ["this version", "baseline"]


def test_the_recommended_configuration_reads_as_sentences_in_rows_per_second(
    sqlite_store: Store, digits_source: Path, digits_retrain: Path
) -> None:
    record = compared(sqlite_store, digits_source, digits_retrain)
    config = record.report.recommended
    assert config is not None
    rows = dict(recommended_rows(config, record.report.int8))
    assert rows["runs on"] == "CPU, ONNX Runtime CPUExecutionProvider"
    assert rows["throughput"].endswith("rows/s in-process on one core")
    assert rows["model file"] in (
        "the registered model",
        f"int8 copy, sha256 {config.model_sha256 and config.model_sha256[:12]}",
    )
    html = render_html(record)
    section = html[html.index("Recommended serving configuration") : html.index("<h2>Profile")]
    assert "rows/s in-process" in section and "req/s" not in section
    assert "intra_op_threads" not in section and "max_batch_size" not in section
    assert "<th>rows/s in-process</th>" in html
