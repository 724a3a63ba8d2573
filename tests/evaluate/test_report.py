"""The report rendered from a real evaluation: offline HTML with charts, and summary rows."""

from __future__ import annotations

import re
from pathlib import Path

from baton.core.refs import Ref
from baton.evaluate.report import metric_rows, render_html, summary_rows
from baton.evaluate.service import evaluate
from baton.examples.digits import NAME
from baton.handover.register import register_handover
from baton.store.store import Store
from tests.evaluate.conftest import crashing_model, weights, write_digits_like


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
    assert html.count("Plotly.newPlot") == 3  # latency-throughput, confusion, deltas
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
    assert metrics["accuracy"][3] == str(record.report["claimed"]["accuracy"])
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
