"""``evaluate``: the gate's one service function, called by the CLI and the API alike.

Everything that can be wrong with the request (unknown version, missing baseline, eval
data that does not fit the signature, unknown labels) is raised as ``BadInput``/``NotFound``
before anything is written. Once the models run, the outcome is always recorded exactly
once: passed, failed, or error when ONNX Runtime fails on the model.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from baton.core import gate
from baton.core.manifest import Manifest, Task, parse_manifest
from baton.core.policy import HIGHER_IS_BETTER, Policy
from baton.core.refs import Ref
from baton.core.serving_config import ServingConfig
from baton.core.signature import TensorSpec
from baton.errors import BadInput, NotFound
from baton.evaluate import metrics
from baton.evaluate.datasets import EvalData, class_indices
from baton.evaluate.profiler import (
    Mode,
    Point,
    Profile,
    Variant,
    available_gpu_providers,
    count_points,
    plan_for,
    profile,
    quantize_int8,
    recommend,
    serving_config,
)
from baton.evaluate.runner import (
    ModelCrashed,
    RunResult,
    batch_rows,
    open_session,
    run_models,
)
from baton.evaluate.sanity import output_facts
from baton.store.evaluations import EvaluationRecord, Status
from baton.store.registry import VersionInfo
from baton.store.store import Store
from baton.store.tx import utcnow

REPORT_SCHEMA = 1
PRIMARY = {
    "classification": ("accuracy",),
    "regression": ("r2",),
    "embedding": ("recall_at_k", "mean_cosine"),
    "generic": ("mean_abs_diff",),
}
MAX_CONFUSION_CLASSES = 100


class Progress(Protocol):
    """What the edge shows while the gate works (a rich bar in the CLI)."""

    def begin(self, stage: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...


class _Silent:
    def begin(self, stage: str, total: int | None) -> None:
        return None

    def advance(self, n: int) -> None:
        return None


def evaluate(
    store: Store,
    ref: Ref,
    *,
    actor: str,
    against: Ref | None = None,
    mode: Mode = "default",
    policy: Policy | None = None,
    progress: Progress | None = None,
    batch_size: int | None = None,
    cpus: int | None = None,
) -> EvaluationRecord:
    """Evaluate ``ref`` (against ``against``, or the ``production`` alias when there is one),
    record the result with its report and recommended serving configuration, and return it."""
    policy = policy or Policy()
    progress = progress or _Silent()
    candidate = store.registry.resolve(ref)
    manifest = _manifest(candidate)
    if manifest.eval is None:
        raise BadInput(
            f"{candidate.ref} has no eval data: add eval: {{data: eval.npz, target: label}} "
            "to baton.yaml and register it again"
        )
    baseline = _baseline(store, candidate, against)
    if baseline is not None:
        _check_same_inputs(candidate, manifest, baseline)
    eval_file = candidate.file("eval_data")
    data_path = store.artifacts.verified_path(eval_file.sha256)
    task = manifest.task.value
    data = EvalData(data_path, eval_file.filename, manifest.signature, None)
    target = manifest.eval.target
    if task in ("classification", "regression") or data.has_key(target):
        data = EvalData(data_path, eval_file.filename, manifest.signature, target)
    classes = _classes(manifest)
    transform = None
    if task == "classification" and classes is not None:
        labels = manifest.labels

        def transform(t: np.ndarray) -> np.ndarray:
            return class_indices(t, labels, classes, eval_file.filename)

    model_path = store.artifacts.verified_path(candidate.file("model").sha256)
    baseline_path = (
        store.artifacts.verified_path(baseline.file("model").sha256) if baseline else None
    )
    plan = plan_for(mode, cpus or policy.performance.max_cores or _cpus())
    started = utcnow()
    with tempfile.TemporaryDirectory(prefix="baton-evaluate-") as tmp:
        try:
            report, recommended = _run(
                store,
                candidate,
                manifest,
                data,
                model_path,
                baseline,
                baseline_path,
                transform,
                plan.mode,
                policy,
                progress,
                batch_size or batch_rows(manifest.signature),
                Path(tmp),
                cpus,
            )
        except ModelCrashed as exc:
            report = {
                "schema": REPORT_SCHEMA,
                "model": candidate.model,
                "version": candidate.number,
                "against": baseline.number if baseline else None,
                "mode": plan.mode,
                "error": str(exc),
                "verdict": {"passed": False, "reasons": [str(exc)]},
            }
            return store.evaluations.record(
                candidate.model,
                candidate.number,
                status="error",
                report=report,
                actor=actor,
                started_at=started,
                against=baseline.number if baseline else None,
                error=str(exc),
            )
    status: Status = "passed" if report["verdict"]["passed"] else "failed"
    return store.evaluations.record(
        candidate.model,
        candidate.number,
        status=status,
        report=report,
        actor=actor,
        started_at=started,
        against=baseline.number if baseline else None,
        recommended=recommended,
    )


def _run(
    store: Store,
    candidate: VersionInfo,
    manifest: Manifest,
    data: EvalData,
    model_path: Path,
    baseline: VersionInfo | None,
    baseline_path: Path | None,
    transform: Any,
    mode: Mode,
    policy: Policy,
    progress: Progress,
    batch_size: int,
    tmp: Path,
    cpus: int | None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    task = manifest.task.value
    plan = plan_for(mode, cpus or policy.performance.max_cores or _cpus())
    allowed = policy.performance.precisions
    plan = replace(plan, precisions=tuple(p for p in plan.precisions if p in allowed) or allowed)
    sessions = {"candidate": open_session(model_path, label="candidate")}
    if baseline_path is not None:
        sessions["baseline"] = open_session(baseline_path, label=f"baseline {baseline.ref}")  # type: ignore[union-attr]
    notes: list[str] = []
    int8_path = tmp / "int8.onnx"
    if "int8" in plan.precisions:
        problem = quantize_int8(model_path, int8_path)
        if problem:
            notes.append(problem)
        else:
            sessions["int8"] = open_session(int8_path, label="int8 model")

    progress.begin(f"running {candidate.ref} over {data.filename}", data.rows)
    run = run_models(
        sessions, data, batch_size=batch_size, target_transform=transform, progress=progress.advance
    )
    out_name = _scored_output(manifest).name
    outputs = {m: _class_scores(task, o[out_name]) for m, o in run.outputs.items()}
    classes = _classes(manifest) or (
        outputs["candidate"].shape[-1] if outputs["candidate"].ndim > 1 else 1
    )
    if task == "classification" and transform is None and run.target is not None:
        run.target = class_indices(run.target, manifest.labels, classes, data.filename)
    reference = run.reference.get(out_name)
    tol = policy.sanity.probability_tolerance
    probabilities = {
        m: task == "classification" and metrics.looks_like_probabilities(o, tol)
        for m, o in outputs.items()
    }
    quality = {
        m: _quality(task, run, o, reference, classes, manifest, probabilities[m])
        for m, o in outputs.items()
    }

    checks: dict[str, gate.Verdict] = {}
    scalars = {
        k: v for k, v in quality["candidate"].items() if isinstance(v, float | int) or v is None
    }
    checks["parity"] = gate.parity(scalars, manifest.eval.claimed, manifest.eval.tolerance)  # type: ignore[union-attr]

    regression_report: dict[str, Any] | None = None
    if baseline is not None:
        progress.begin(f"comparing with {baseline.ref} (bootstrap)", None)
        regression_report, checks["regression"] = _regression(
            task, run, outputs, reference, classes, probabilities, policy, plan.bootstrap, manifest
        )
    else:
        checks["regression"] = gate.skipped("no baseline: no @production version and no --against")

    range_source, range_values = _reference_range(task, reference, run, baseline, outputs)
    facts = output_facts(
        outputs["candidate"],
        probabilities=task == "classification",
        reference=range_values,
        policy=policy.sanity,
        reference_name=range_source,
    )
    checks["sanity"] = gate.sanity(facts, policy.sanity)

    int8 = _int8_summary(task, quality, policy)
    if "int8" in quality and int8 is not None and not int8["ok"]:
        notes.append(int8["reason"])
    variants = [Variant("fp32", model_path)] if "fp32" in plan.precisions else []
    if "int8" in sessions:
        variants.append(Variant("int8", int8_path))
    del sessions
    sample = next(iter(data.batches(256))).inputs
    cpu_count = cpus or policy.performance.max_cores or _cpus()
    progress.begin(
        f"profiling ({plan.mode})",
        count_points(plan, variants, cpu_count, available_gpu_providers()),
    )
    measured = profile(
        variants,
        sample,
        plan,
        queue_delay_ms=policy.performance.queue_delay_ms,
        max_cores=cpu_count,
        progress=progress.advance,
    )
    int8_ok = bool(int8 and int8["ok"])
    best, closest = recommend(measured, manifest.slo, int8_ok=int8_ok)
    checks["performance"] = gate.performance(
        _op(best), _op(closest), manifest.slo, require_slo=policy.require_slo
    )
    recommended: ServingConfig | None = None
    if best is not None:
        recommended = serving_config(best, measured, policy.performance.queue_delay_ms)
        if recommended.precision == "int8":
            stored = store.artifacts.put_file(int8_path)
            recommended = recommended.model_copy(update={"model_sha256": stored.sha256})
    verdict = gate.overall(checks)

    report: dict[str, Any] = {
        "schema": REPORT_SCHEMA,
        "model": candidate.model,
        "version": candidate.number,
        "label": candidate.label,
        "owner": candidate.owner,
        "task": task,
        "mode": plan.mode,
        "against": baseline.number if baseline else None,
        "data": {
            "file": data.filename,
            "format": data.format,
            "rows": run.rows,
            "sha256": candidate.file("eval_data").sha256,
        },
        "verdict": _verdict(verdict),
        "checks": {name: _verdict(v) for name, v in checks.items()},
        "metrics": quality["candidate"],
        "baseline_metrics": quality.get("baseline"),
        "claimed": manifest.eval.claimed,  # type: ignore[union-attr]
        "tolerance": manifest.eval.tolerance,  # type: ignore[union-attr]
        "slo": manifest.slo.model_dump(exclude_none=True) if manifest.slo else None,
        "regression": regression_report,
        "sanity": asdict(facts),
        "int8": int8,
        "profile": _profile_report(measured, best, closest),
        "recommended": recommended.model_dump(mode="json") if recommended else None,
        "run_seconds": run.seconds,
        "notes": notes,
    }
    return _json_safe(report), (recommended.model_dump(mode="json") if recommended else None)


def _quality(
    task: str,
    run: RunResult,
    outputs: np.ndarray,
    reference: np.ndarray | None,
    classes: int,
    manifest: Manifest,
    probabilities: bool,
) -> dict[str, Any]:
    if task == "classification" and run.target is not None:
        out = metrics.classification(run.target, outputs, classes, manifest.labels, probabilities)
        if classes > MAX_CONFUSION_CLASSES:
            out["confusion_matrix"] = None
        return out
    if task == "regression" and run.target is not None:
        return metrics.regression(run.target, outputs)
    if task == "embedding":
        return metrics.embedding(outputs, reference, run.target)
    return metrics.generic(outputs, reference)


def _regression(
    task: str,
    run: RunResult,
    outputs: dict[str, np.ndarray],
    reference: np.ndarray | None,
    classes: int,
    probabilities: dict[str, bool],
    policy: Policy,
    resamples: int,
    manifest: Manifest,
) -> tuple[dict[str, Any], gate.Verdict]:
    cand, base = outputs["candidate"], outputs["baseline"]
    both_prob = probabilities["candidate"] and probabilities["baseline"]
    fns = {
        m: metrics.resampled_metrics(task, run.target, outputs[m], reference, classes, both_prob)
        for m in ("candidate", "baseline")
    }
    draws = metrics.bootstrap_draws(min(resamples, policy.regression.bootstrap), run.rows)
    deltas = metrics.paired_deltas(
        fns["candidate"],
        fns["baseline"],
        run.rows,
        resamples=draws,
        confidence=policy.regression.confidence,
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
    names = manifest.labels or [str(i) for i in range(classes)]
    examples = []
    for i in shown:
        item: dict[str, Any] = {"row": i, "distance": float(distance[i])}
        if run.target is not None:
            truth = run.target[i]
            item["truth"] = (
                names[int(truth)] if task == "classification" else np.asarray(truth).tolist()
            )
        if task == "classification":
            item["candidate"] = names[int(pc[i])]
            item["candidate_confidence"] = float(np.nan_to_num(cand[i, pc[i]]))
            item["baseline"] = names[int(pb[i])]
            item["baseline_confidence"] = float(np.nan_to_num(base[i, pb[i]]))
        else:  # the first few values of each, enough to see the difference
            item["candidate"] = np.asarray(cand[i]).reshape(-1)[:4].tolist()
            item["baseline"] = np.asarray(base[i]).reshape(-1)[:4].tolist()
        examples.append(item)
    verdict = gate.regression(deltas, policy.gated_metrics(task), policy.regression, agreement)
    report = {
        "deltas": [
            {**asdict(d), "higher_is_better": HIGHER_IS_BETTER.get(d.name, True)} for d in deltas
        ],
        "confidence": policy.regression.confidence,
        "resamples": draws,
        "agreement": agreement,
        "disagreements": int((~agree).sum()),
        "examples": examples,
        "gated": list(policy.gated_metrics(task)),
    }
    return report, verdict


def _reference_range(
    task: str,
    reference: np.ndarray | None,
    run: RunResult,
    baseline: VersionInfo | None,
    outputs: dict[str, np.ndarray],
) -> tuple[str, np.ndarray | None]:
    """What outputs should stay within: reference outputs given with the data, else a
    regressor's ground truth, else what the baseline produced on the same rows."""
    if reference is not None:
        return "the reference outputs in the eval data", reference
    if task == "regression" and run.target is not None:
        return "the ground truth", run.target
    if baseline is not None:
        return f"the baseline {baseline.ref}", outputs["baseline"]
    return "", None


def _int8_summary(
    task: str, quality: dict[str, dict[str, Any]], policy: Policy
) -> dict[str, Any] | None:
    if "int8" not in quality:
        return None
    for name in PRIMARY[task]:
        fp32, int8 = quality["candidate"].get(name), quality["int8"].get(name)
        if fp32 is None or int8 is None:
            continue
        higher = HIGHER_IS_BETTER.get(name, True)
        drop = (fp32 - int8) if higher else (int8 - fp32)
        ok = math.isfinite(drop) and drop <= policy.performance.int8_max_drop
        reason = (
            f"int8 {name} {int8:.4g} vs fp32 {fp32:.4g}: "
            + ("within" if ok else "beyond")
            + f" the allowed drop of {policy.performance.int8_max_drop:g}"
        )
        return {
            "metric": name,
            "fp32": fp32,
            "int8": int8,
            "drop": drop,
            "ok": ok,
            "reason": reason,
        }
    return {
        "metric": None,
        "ok": False,
        "reason": "int8 not recommended: no metric to measure what quantisation costs",
    }


def _profile_report(measured: Profile, best: Point | None, closest: Point | None) -> dict[str, Any]:
    return {
        "mode": measured.plan.mode,
        "budget_s": measured.plan.budget_s,
        "seconds_per_point": measured.plan.seconds,
        "elapsed_s": measured.elapsed_s,
        "points": [{**asdict(p), "key": p.key, "config": p.config_key} for p in measured.points],
        "load_seconds": measured.load_seconds,
        "size_bytes": measured.size_bytes,
        "memory_bytes": measured.memory_bytes,
        "recommended_point": best.key if best else None,
        "closest_point": closest.key if closest else None,
        "notes": measured.notes,
        "basis": (
            "in-process ONNX Runtime: served p99 = 2 x batch p99 + batching delay (a request "
            "may wait for the batch in flight); throughput is the model's ceiling, before "
            "the HTTP server's own cost"
        ),
    }


def _op(point: Point | None) -> gate.OperatingPoint | None:
    if point is None:
        return None
    return gate.OperatingPoint(
        point.key, point.cores, point.gpus, point.served_p99_ms, point.throughput_rps
    )


def _verdict(v: gate.Verdict) -> dict[str, Any]:
    return {"passed": v.passed, "status": v.status, "reasons": list(v.reasons)}


def _json_safe(value: Any) -> Any:
    """NaN and Inf are not JSON (PostgreSQL refuses them): they become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.floating | np.integer):
        return _json_safe(value.item())
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _manifest(version: VersionInfo) -> Manifest:
    return parse_manifest(version.manifest, source=f"{version.ref} manifest")


def _scored_output(manifest: Manifest) -> TensorSpec:
    """The output the gate judges: a classifier's first float output (its scores, not a
    predicted-label output); otherwise the first output."""
    if manifest.task is Task.CLASSIFICATION:
        for spec in manifest.signature.outputs:
            if spec.dtype.value.startswith("float"):
                return spec
    return manifest.signature.outputs[0]


def _classes(manifest: Manifest) -> int | None:
    shape = _scored_output(manifest).shape
    if len(shape) == 1 or shape[-1] == 1:
        return 2  # one score per row: the probability of the positive class
    if shape[-1] != -1:
        return shape[-1]
    return len(manifest.labels) if manifest.labels else None


def _class_scores(task: str, values: np.ndarray) -> np.ndarray:
    """Rows of class scores: a single positive-class score p becomes [1 - p, p]."""
    if task != "classification":
        return values
    rows = values.reshape(len(values), -1)
    if rows.shape[1] == 1:
        return np.hstack([1 - rows, rows])
    return rows


def _baseline(store: Store, candidate: VersionInfo, against: Ref | None) -> VersionInfo | None:
    if against is not None:
        if against.name != candidate.model:
            raise BadInput(
                f"--against {against.name} is another model: compare with a version of "
                f"{candidate.model} (e.g. {candidate.model}@production or {candidate.model}:1)"
            )
        if against.version is None and against.alias is None:
            raise BadInput(f"--against needs a version or alias, e.g. {candidate.model}@production")
        found = store.registry.resolve(against)
        if found.number == candidate.number:
            raise BadInput(f"--against {found.ref} is the version being evaluated: pick another")
        return found
    try:
        found = store.registry.resolve(Ref(candidate.model, None, "production"))
    except NotFound:
        return None
    return None if found.number == candidate.number else found


def _check_same_inputs(candidate: VersionInfo, manifest: Manifest, baseline: VersionInfo) -> None:
    theirs = _manifest(baseline)
    if (
        theirs.signature.inputs != manifest.signature.inputs
        or _scored_output(theirs).name != _scored_output(manifest).name
    ):
        raise BadInput(
            f"{baseline.ref} and {candidate.ref} have different signatures, so they cannot "
            "be compared on the same data: pass --against a version with the same inputs"
        )
    if theirs.task != manifest.task:
        raise BadInput(
            f"{baseline.ref} is a {theirs.task.value} model and {candidate.ref} a "
            f"{manifest.task.value} one: they cannot be compared"
        )


def _cpus() -> int:
    import os

    return os.cpu_count() or 1
