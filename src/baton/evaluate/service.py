"""``evaluate``: the gate's one service function, called by the CLI and the API alike.

Everything that can be wrong with the request (unknown version, missing baseline, eval
data that does not fit the signature, unknown labels) is raised as ``BadInput``/``NotFound``
before anything is written. Once the models run, the outcome is always recorded exactly
once: passed, failed, or error when ONNX Runtime fails on the model.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from baton.core.evaluation import EvaluationReport
from baton.core.manifest import Manifest
from baton.core.policy import Policy
from baton.core.refs import Ref
from baton.core.serving_config import ServingConfig
from baton.errors import BadInput, NotFound
from baton.evaluate import catalogue as metric_catalogue
from baton.evaluate.compare import int8_tradeoff
from baton.evaluate.datasets import EvalData
from baton.evaluate.profiler import Mode, Plan, plan_for
from baton.evaluate.report_data import build_report, crash_report
from baton.evaluate.runner import ModelCrashed, TargetTransform, batch_rows
from baton.evaluate.scoring import class_indices, classes_of, scored_output
from baton.evaluate.stages import Job, Progress, check, perform, score
from baton.store.evaluations import EvaluationRecord, Status
from baton.store.registry import VersionInfo
from baton.store.store import Store
from baton.store.tx import utcnow

__all__ = ["Progress", "evaluate"]


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
    job = _prepare(
        store,
        ref,
        against=against,
        mode=mode,
        policy=policy or Policy(),
        batch_size=batch_size,
        cpus=cpus,
    )
    started = utcnow()
    with tempfile.TemporaryDirectory(prefix="baton-evaluate-") as tmp:
        try:
            report, recommended = _run(store, job, progress or _Silent(), Path(tmp))
        except ModelCrashed as exc:
            return store.evaluations.record(
                job.candidate.model,
                job.candidate.number,
                status="error",
                report=crash_report(job, exc),
                actor=actor,
                started_at=started,
                against=job.against,
                error=str(exc),
            )
    status: Status = "passed" if report.verdict and report.verdict.passed else "failed"
    return store.evaluations.record(
        job.candidate.model,
        job.candidate.number,
        status=status,
        report=report,
        actor=actor,
        started_at=started,
        against=job.against,
        recommended=recommended,
    )


def _run(
    store: Store, job: Job, progress: Progress, tmp: Path
) -> tuple[EvaluationReport, ServingConfig | None]:
    """Run, score, check and profile: (the report, the recommended configuration or None)."""
    notes: list[str] = list(job.known.problems)
    int8_path = tmp / "int8.onnx"
    scored = score(job, progress, notes, int8_path)
    checked = check(job, scored, progress)
    int8 = int8_tradeoff(job.task, scored.scores, job.policy)
    if "int8" in scored.scores and int8 is not None and not int8.ok:
        notes.append(int8.reason)
    perf = perform(store, job, scored, int8, int8_path, progress)
    return build_report(job, scored, checked, int8, perf, notes), perf.recommended


def _prepare(
    store: Store,
    ref: Ref,
    *,
    against: Ref | None,
    mode: Mode,
    policy: Policy,
    batch_size: int | None,
    cpus: int | None,
) -> Job:
    """Resolve and check everything the gate needs; raise before anything is written."""
    candidate = store.registry.resolve(ref)
    manifest = candidate.manifest
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
    data, transform = _eval_data(store, candidate, manifest, manifest.eval.target)
    model_path = store.artifacts.verified_path(candidate.file("model").sha256)
    baseline_path = (
        store.artifacts.verified_path(baseline.file("model").sha256) if baseline else None
    )
    cores = cpus or policy.performance.max_cores or _cpus()
    return Job(
        candidate=candidate,
        manifest=manifest,
        spec=manifest.eval,
        baseline=baseline,
        data=data,
        transform=transform,
        model_path=model_path,
        baseline_path=baseline_path,
        plan=_plan(mode, cores, policy),
        cpus=cores,
        batch_size=batch_size or batch_rows(manifest.signature),
        policy=policy,
        known=known,
    )


def _eval_data(
    store: Store, candidate: VersionInfo, manifest: Manifest, target: str
) -> tuple[EvalData, TargetTransform | None]:
    """The eval data (with its target when the task scores one) and how to map its labels."""
    eval_file = candidate.file("eval_data")
    data_path = store.artifacts.verified_path(eval_file.sha256)
    task = manifest.task.value
    data = EvalData(data_path, eval_file.filename, manifest.signature, None)
    if task in ("classification", "regression") or data.has_key(target):
        data = EvalData(data_path, eval_file.filename, manifest.signature, target)
    classes = classes_of(manifest)
    if task != "classification" or classes is None:
        return data, None
    labels = manifest.labels

    def transform(t: np.ndarray) -> np.ndarray:
        return class_indices(t, labels, classes, eval_file.filename)

    return data, transform


def _plan(mode: Mode, cores: int, policy: Policy) -> Plan:
    """The mode's grid, restricted to the precisions the policy allows (computed once)."""
    plan = plan_for(mode, cores)
    allowed = policy.performance.precisions
    return replace(plan, precisions=tuple(p for p in plan.precisions if p in allowed) or allowed)


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
    theirs = baseline.manifest
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
