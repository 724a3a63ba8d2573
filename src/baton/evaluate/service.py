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
from baton.core.manifest import Manifest, parse_manifest
from baton.core.policy import Policy
from baton.core.refs import Ref
from baton.core.serving_config import ServingConfig
from baton.errors import BadInput, NotFound
from baton.evaluate import catalogue as metric_catalogue
from baton.evaluate import metrics
from baton.evaluate.catalogue import Catalogue
from baton.evaluate.compare import compare, int8_tradeoff
from baton.evaluate.datasets import EvalData
from baton.evaluate.drift_reference import drift_reference
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
    batch_rows,
    open_session,
    run_models,
)
from baton.evaluate.sanity import output_facts
from baton.evaluate.scoring import (
    class_indices,
    class_scores,
    classes_of,
    quality,
    reference_range_for,
    scored_output,
)
from baton.store.evaluations import EvaluationRecord, Status
from baton.store.registry import VersionInfo
from baton.store.store import Store
from baton.store.tx import utcnow

REPORT_SCHEMA = 1


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
    known = metric_catalogue.load(policy.regression.higher_is_better)
    metric_catalogue.check_gated(
        known, manifest.task.value, policy.gated_metrics(manifest.task.value)
    )
    eval_file = candidate.file("eval_data")
    data_path = store.artifacts.verified_path(eval_file.sha256)
    task = manifest.task.value
    data = EvalData(data_path, eval_file.filename, manifest.signature, None)
    target = manifest.eval.target
    if task in ("classification", "regression") or data.has_key(target):
        data = EvalData(data_path, eval_file.filename, manifest.signature, target)
    classes = classes_of(manifest)
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
                known,
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
    known: Catalogue,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    task = manifest.task.value
    plan = plan_for(mode, cpus or policy.performance.max_cores or _cpus())
    allowed = policy.performance.precisions
    plan = replace(plan, precisions=tuple(p for p in plan.precisions if p in allowed) or allowed)
    sessions = {"candidate": open_session(model_path, label="candidate")}
    if baseline_path is not None:
        sessions["baseline"] = open_session(baseline_path, label=f"baseline {baseline.ref}")  # type: ignore[union-attr]
    notes: list[str] = list(known.problems)
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
    out_name = scored_output(manifest).name
    outputs = {m: class_scores(task, o[out_name]) for m, o in run.outputs.items()}
    classes = classes_of(manifest) or (
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
    scores = {
        m: quality(task, run.target, o, reference, classes, manifest.labels, probabilities[m])
        for m, o in outputs.items()
    }
    notes += _packaged_scores(scores, known, task, outputs, run.target)
    directions = known.directions()

    checks: dict[str, gate.Verdict] = {}
    scalars = {
        k: v for k, v in scores["candidate"].items() if isinstance(v, float | int) or v is None
    }
    checks["parity"] = gate.parity(
        scalars,
        manifest.eval.claimed,  # type: ignore[union-attr]
        manifest.eval.tolerance,  # type: ignore[union-attr]
        directions,
    )

    regression_report: dict[str, Any] | None = None
    if baseline is not None:
        progress.begin(f"comparing with {baseline.ref} (bootstrap)", None)
        regression_report, checks["regression"] = compare(
            task,
            run.target,
            outputs,
            reference,
            classes,
            probabilities,
            policy,
            plan.bootstrap,
            manifest.labels,
            known,
        )
    else:
        checks["regression"] = gate.skipped("no baseline: no @production version and no --against")

    range_source, range_values = reference_range_for(task, reference, run.target, baseline, outputs)
    facts = output_facts(
        outputs["candidate"],
        probabilities=task == "classification",
        reference=range_values,
        policy=policy.sanity,
        reference_name=range_source,
    )
    checks["sanity"] = gate.sanity(facts, policy.sanity)

    int8 = int8_tradeoff(task, scores, policy)
    if "int8" in scores and int8 is not None and not int8["ok"]:
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
        "metrics": scores["candidate"],
        "baseline_metrics": scores.get("baseline"),
        "directions": {k: directions.get(k) for k in scalars},
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
        "drift_reference": drift_reference(manifest, data, run.outputs["candidate"]),
    }
    return _json_safe(report), (recommended.model_dump(mode="json") if recommended else None)


def _packaged_scores(
    scores: dict[str, dict[str, Any]],
    known: Catalogue,
    task: str,
    outputs: dict[str, np.ndarray],
    target: np.ndarray | None,
) -> list[str]:
    """Add the metrics installed packages provide to each model's scores; say what failed."""
    notes: list[str] = []
    for info in known.packaged(task):
        for m, o in outputs.items():
            scores[m][info.name], problem = info.measure(o, target)
            if problem and m == "candidate":
                notes.append(problem)
    return notes


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
        or scored_output(theirs).name != scored_output(manifest).name
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
