"""The metric catalogue: built-in metrics, and packages' metrics found through real entry points
(pip-installed packages on ``sys.path``, read by importlib.metadata; nothing mocked)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baton.core.policy import HIGHER_IS_BETTER
from baton.errors import BadInput
from baton.evaluate.catalogue import BUILT_IN, check_gated, load, packaged_names


def test_every_built_in_metric_has_a_task_a_direction_and_a_summary() -> None:
    assert set(BUILT_IN) == set(HIGHER_IS_BETTER)
    found = load()
    assert found.problems == () and packaged_names() == []
    assert found.metrics["log_loss"].direction == "lower is better"
    assert found.metrics["recall_at_1"].task == "embedding"
    assert all(m.source == "built-in" and m.summary for m in found.metrics.values())
    assert found.packaged("classification") == []


def test_a_package_metric_declares_its_task_and_direction(
    team_metrics_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(team_metrics_site))
    assert packaged_names() == ["hit_rate_at_2", "worst_class_recall"]
    found = load()
    hit = found.metrics["hit_rate_at_2"]
    assert (hit.task, hit.higher_is_better) == ("classification", True)
    assert hit.source == "package teamx-metrics 1.2.0"
    assert hit.summary == "Truth among the two top classes."
    assert found.metrics["worst_class_recall"].higher_is_better is None
    assert [m.name for m in found.packaged("classification")] == [
        "hit_rate_at_2",
        "worst_class_recall",
    ]
    assert found.packaged("regression") == []
    told = load({"worst_class_recall": True})  # the policy says what the package does not
    assert told.metrics["worst_class_recall"].direction == "higher is better"

    scores = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.4, 0.1]])
    assert hit.measure(scores, np.array([1, 0, 2])) == (1 / 3, None)
    value, why = hit.measure(scores, None)
    assert value is None and "needs the target" in (why or "")


def test_a_broken_package_is_reported_never_raised(
    broken_metrics_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(broken_metrics_site))
    found = load()
    problems = "\n".join(found.problems)
    assert "metric accuracy (broken_metrics:accuracy, package broken-metrics 1.2.0)" in problems
    assert "taken by built-in" in problems
    assert "sideways" in problems and "must be True or False, not 'up'" in problems
    assert "constant" in problems and "is not a function" in problems
    assert "missing" in problems and "cannot be imported (AttributeError" in problems
    assert found.metrics["accuracy"].source == "built-in"
    value, why = found.metrics["fails"].measure(np.ones((2, 2)), np.array([0, 1]))
    assert value is None and "ZeroDivisionError: no rows of class 7" in (why or "")


def test_a_gated_metric_must_exist_and_have_a_direction(
    team_metrics_site: Path, broken_metrics_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(team_metrics_site))
    monkeypatch.syspath_prepend(str(broken_metrics_site))
    found = load()
    check_gated(found, "classification", ("accuracy", "hit_rate_at_2"))
    with pytest.raises(BadInput, match="does not say whether higher is better") as undeclared:
        check_gated(found, "classification", ("worst_class_recall",))
    assert "regression.higher_is_better: {worst_class_recall: true}" in undeclared.value.message
    with pytest.raises(BadInput, match="cannot be imported"):
        check_gated(found, "classification", ("missing",))
