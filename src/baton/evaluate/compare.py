"""Comparisons on the same rows: a candidate against its baseline, and int8 against fp32."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from baton.core import gate
from baton.core.evaluation import Int8Tradeoff, Metrics
from baton.core.policy import HIGHER_IS_BETTER, Policy
from baton.evaluate import metrics
from baton.evaluate.catalogue import Catalogue, MetricInfo

PRIMARY = {
    "classification": ("accuracy",),
    "regression": ("r2",),
    "embedding": ("recall_at_5", "mean_cosine"),
    "generic": ("mean_abs_diff",),
}


def compare(
    task: str,
    target: np.ndarray | None,
    outputs: dict[str, np.ndarray],
    reference: np.ndarray | None,
    classes: int,
    probabilities: dict[str, bool],
    policy: Policy,
    resamples: int,
    labels: list[str] | None,
    catalogue: Catalogue | None = None,
) -> tuple[dict[str, object], gate.Verdict]:
    """Candidate against baseline on the same rows: paired bootstrap deltas, agreement, and
    the rows where they disagree most; the verdict comes from ``core.gate.regression``.

    A package's metric joins the bootstrap only when the policy gates it: the team's
    function runs once per resample, which a metric only reported need not pay for."""
    cand, base = outputs["candidate"], outputs["baseline"]
    both_prob = probabilities["candidate"] and probabilities["baseline"]
    gated = policy.gated_metrics(task)
    fns = {
        m: metrics.resampled_metrics(task, target, outputs[m], reference, classes, both_prob)
        for m in ("candidate", "baseline")
    }
    if catalogue is not None and target is not None:
        _add_packaged(fns, catalogue, task, gated, outputs, target)
    draws = metrics.bootstrap_draws(min(resamples, policy.regression.bootstrap), len(cand))
    deltas = metrics.paired_deltas(
        fns["candidate"],
        fns["baseline"],
        len(cand),
        resamples=draws,
        confidence=policy.regression.confidence,
        directions=catalogue.directions() if catalogue else dict(HIGHER_IS_BETTER),
    )
    if task == "classification":
        pc, pb = metrics.predicted_classes(cand), metrics.predicted_classes(base)
        agree = pc == pb
        distance = 0.5 * np.abs(np.nan_to_num(cand) - np.nan_to_num(base)).sum(axis=1)
    else:
        c2, b2 = cand.reshape(len(cand), -1), base.reshape(len(base), -1)
        diff = np.abs(np.nan_to_num(c2.astype(np.float64)) - np.nan_to_num(b2))
        agree = np.all(diff <= 1e-3 + 1e-2 * np.abs(b2), axis=1)
        distance = diff.max(axis=1)
    agreement = float(agree.mean())
    order = np.argsort(-np.where(agree, -1.0, distance), kind="stable")
    shown = [int(i) for i in order[: policy.regression.examples] if not agree[i]]
    names = labels or [str(i) for i in range(classes)]
    examples = [_example(i, task, target, cand, base, distance, names) for i in shown]
    verdict = gate.regression(deltas, gated, policy.regression, agreement)
    report = {
        "deltas": [_delta(d) for d in deltas],
        "confidence": policy.regression.confidence,
        "resamples": draws,
        "agreement": agreement,
        "disagreements": int((~agree).sum()),
        "examples": examples,
        "gated": list(gated),
    }
    return report, verdict


def _example(
    i: int,
    task: str,
    target: np.ndarray | None,
    cand: np.ndarray,
    base: np.ndarray,
    distance: np.ndarray,
    names: list[str],
) -> dict[str, object]:
    """One row where the two versions disagree, as the report shows it."""
    item: dict[str, object] = {"row": i, "distance": float(distance[i])}
    if target is not None:
        truth = target[i]
        item["truth"] = (
            names[int(truth)] if task == "classification" else np.asarray(truth).tolist()
        )
    if task == "classification":
        pc, pb = (
            metrics.predicted_classes(cand[i : i + 1])[0],
            metrics.predicted_classes(base[i : i + 1])[0],
        )
        item["candidate"] = names[int(pc)]
        item["candidate_confidence"] = float(np.nan_to_num(cand[i, pc]))
        item["baseline"] = names[int(pb)]
        item["baseline_confidence"] = float(np.nan_to_num(base[i, pb]))
    else:  # the first few values of each, enough to see the difference
        item["candidate"] = np.asarray(cand[i]).reshape(-1)[:4].tolist()
        item["baseline"] = np.asarray(base[i]).reshape(-1)[:4].tolist()
    return item


def _add_packaged(
    fns: dict[str, metrics.Resampled],
    catalogue: Catalogue,
    task: str,
    gated: tuple[str, ...],
    outputs: dict[str, np.ndarray],
    target: np.ndarray,
) -> None:
    for info in catalogue.packaged(task):
        if info.name in gated:
            for m, fn in fns.items():
                fn[info.name] = _resampled(info, outputs[m], target)


def _delta(d: gate.MetricDelta) -> dict[str, object]:
    out = {k: v for k, v in asdict(d).items() if k != "higher"}
    return {**out, "higher_is_better": d.higher_is_better}


def _resampled(
    info: MetricInfo, outputs: np.ndarray, target: np.ndarray
) -> Callable[[np.ndarray], float]:
    def value(idx: np.ndarray) -> float:
        got, _problem = info.measure(outputs[idx], target[idx])
        return math.nan if got is None else got

    return value


def int8_tradeoff(task: str, quality: dict[str, Metrics], policy: Policy) -> Int8Tradeoff | None:
    """What int8 costs in the task's primary metric on the eval data, and whether the
    policy accepts it."""
    if "int8" not in quality:
        return None
    for name in PRIMARY[task]:
        fp32, int8 = quality["candidate"].get(name), quality["int8"].get(name)
        if not isinstance(fp32, float | int) or not isinstance(int8, float | int):
            continue  # not measured (None)
        higher = HIGHER_IS_BETTER.get(name, True)
        drop = (fp32 - int8) if higher else (int8 - fp32)
        ok = math.isfinite(drop) and drop <= policy.performance.int8_max_drop
        reason = (
            f"int8 {name} {int8:.4g} vs fp32 {fp32:.4g}: "
            + ("within" if ok else "beyond")
            + f" the allowed drop of {policy.performance.int8_max_drop:g}"
        )
        return Int8Tradeoff(metric=name, fp32=fp32, int8=int8, drop=drop, ok=ok, reason=reason)
    return Int8Tradeoff(
        metric=None,
        ok=False,
        reason="int8 not recommended: no metric to measure what quantisation costs",
    )
