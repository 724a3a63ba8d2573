"""Which quality metrics baton measures: its own, and those a team adds as a package.

A team adds a metric by publishing a function of ``(outputs, targets) -> float`` under the
``baton.metrics`` entry point group; the entry point's name is the metric's name in
claims (``eval.claimed``), in the policy's gated metrics and in reports. The function may
declare ``higher_is_better`` (a bool) and ``task`` (classification, regression, embedding
or generic; default: every task) as attributes; a direction it does not declare comes from
the policy (``regression.higher_is_better``). Entry points are read here, at the edge of
the evaluation, so ``core`` stays free of imports and I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from baton.core.policy import ALIASES, HIGHER_IS_BETTER
from baton.errors import BadInput

GROUP = "baton.metrics"
TASKS = ("classification", "regression", "embedding", "generic")
Compute = Callable[[Any, Any], Any]

BUILT_IN: dict[str, tuple[str, str]] = {  # name -> (task, what it measures)
    "accuracy": ("classification", "top class is the truth"),
    "top_3_accuracy": ("classification", "truth among the 3 top classes"),
    "top_5_accuracy": ("classification", "truth among the 5 top classes"),
    "top_10_accuracy": ("classification", "truth among the 10 top classes"),
    "macro_f1": ("classification", "F1, mean over classes"),
    "log_loss": ("classification", "cross-entropy of the probabilities"),
    "ece": ("classification", "calibration error (15 bins)"),
    "mae": ("regression", "mean absolute error"),
    "rmse": ("regression", "root mean squared error"),
    "r2": ("regression", "R², share of variance explained"),
    "mean_cosine": ("embedding", "cosine to the reference outputs"),
    "recall_at_1": ("embedding", "nearest row shares the label"),
    "recall_at_5": ("embedding", "same label among 5 nearest rows"),
    "recall_at_10": ("embedding", "same label among 10 nearest rows"),
    "mrr": ("embedding", "1/rank of nearest same-label row"),
    "max_abs_diff": ("generic", "max |output - reference|"),
    "mean_abs_diff": ("generic", "mean |output - reference|"),
}


@dataclass(frozen=True)
class MetricInfo:
    """One metric baton can report, wherever it comes from."""

    name: str
    task: str  # one of TASKS, or "any"
    higher_is_better: bool | None  # None: neither declared nor set in the policy
    source: str  # "built-in", or "package DIST VERSION"
    summary: str
    compute: Compute | None = None  # None: built-in (metrics.py computes it)

    @property
    def direction(self) -> str:
        if self.higher_is_better is None:
            return "undeclared"
        return "higher is better" if self.higher_is_better else "lower is better"

    def applies_to(self, task: str) -> bool:
        return self.task in (task, "any")

    def measure(self, outputs: Any, targets: Any) -> tuple[float | None, str | None]:
        """A package's metric on one model's outputs: its value, or None and why not.
        The team's code may fail in any way; that costs its metric, not the evaluation."""
        if self.compute is None:
            raise ValueError(f"{self.name} is built in: metrics.py computes it")
        if targets is None:
            return None, f"metric {self.name} needs the target (eval.target) in the eval data"
        try:
            value = float(self.compute(outputs, targets))
        except Exception as exc:
            return None, f"metric {self.name} ({self.source}) failed: {_error(exc)}"
        if not math.isfinite(value):
            return None, f"metric {self.name} ({self.source}) returned {value}"
        return value, None


@dataclass(frozen=True)
class Catalogue:
    metrics: dict[str, MetricInfo]
    problems: tuple[str, ...] = ()  # packages whose metric could not be used, and why

    def directions(self) -> dict[str, bool | None]:
        return {name: m.higher_is_better for name, m in self.metrics.items()}

    def packaged(self, task: str) -> list[MetricInfo]:
        """The metrics packages add for ``task``, in name order."""
        return [m for m in self.metrics.values() if m.compute is not None and m.applies_to(task)]


def built_in() -> dict[str, MetricInfo]:
    return {
        name: MetricInfo(name, task, HIGHER_IS_BETTER[name], "built-in", summary)
        for name, (task, summary) in BUILT_IN.items()
    }


def packaged_names() -> list[str]:
    """Names the installed packages register, without importing them (for the policy)."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def load(directions: Mapping[str, bool] | None = None) -> Catalogue:
    """Built-in metrics and every installed package's; ``directions`` (from the policy)
    fill in a direction a package's function does not declare. A package that cannot be
    used is a problem to report, never a crash: it must not stop the gate for others."""
    found = built_in()
    problems: list[str] = []
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        info, problem = _from_entry_point(ep, found, directions or {})
        if problem:
            problems.append(problem)
        elif info is not None:
            found[info.name] = info
    return Catalogue(found, tuple(problems))


def _from_entry_point(
    ep: EntryPoint, known: Mapping[str, MetricInfo], directions: Mapping[str, bool]
) -> tuple[MetricInfo | None, str | None]:
    source = f"package {ep.dist.name} {ep.dist.version}" if ep.dist else "a package"
    where = f"metric {ep.name} ({ep.value}, {source})"
    if ep.name in known or ep.name in ALIASES:
        taken = known[ep.name].source if ep.name in known else "an older built-in name"
        return None, f"{where}: the name is taken by {taken}; register it under another name"
    try:
        fn = ep.load()
    except Exception as exc:  # a broken package must not break the gate
        return None, f"{where}: cannot be imported ({_error(exc)})"
    if not callable(fn):
        return None, f"{where}: is not a function of (outputs, targets)"
    task = getattr(fn, "task", "any")
    if task not in (*TASKS, "any"):
        return None, f"{where}: task {task!r} is not one of {', '.join(TASKS)}"
    higher = getattr(fn, "higher_is_better", None)
    if higher is not None and not isinstance(higher, bool):
        return None, f"{where}: higher_is_better must be True or False, not {higher!r}"
    if higher is None:
        higher = directions.get(ep.name)
    summary = _first_line_of_doc(fn)
    return MetricInfo(ep.name, task, higher, source, summary, fn), None


def _error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else 'no message'}"


def _first_line_of_doc(fn: Any) -> str:
    doc = (getattr(fn, "__doc__", None) or "").strip()
    return doc.splitlines()[0][:120] if doc else ""


def check_gated(catalogue: Catalogue, task: str, gated: Sequence[str]) -> None:
    """Refuse, before anything runs, a gated metric that cannot be gated: one whose package
    failed to load, or whose direction nobody stated (a drop must mean worse)."""
    for name in gated:
        info = catalogue.metrics.get(name)
        if info is None:
            why = next((p for p in catalogue.problems if p.startswith(f"metric {name} ")), None)
            raise BadInput(
                f"the policy gates {name} for {task} models, but no installed package provides "
                f"it{f' ({why})' if why else ''}: install its package or drop it from "
                "regression.metrics (see `baton metrics`)"
            )
        if info.higher_is_better is None:
            raise BadInput(
                f"the policy gates {name} ({info.source}), which does not say whether higher "
                f"is better: set {name}.higher_is_better = True or False in the package, or "
                f"regression.higher_is_better: {{{name}: true}} in the policy"
            )
