"""The gate's stages once the request is checked: score the models, check them, profile.

``service.evaluate`` resolves and checks the request into a ``Job``, runs these stages in
order and records the report ``report_data`` builds from their results. Each stage returns a
keyword-built record, so the plan, the sessions and the scores are computed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from baton.core import gate
from baton.core.evaluation import Int8Tradeoff, Metrics
from baton.core.manifest import EvalSpec, Manifest
from baton.core.policy import Policy
from baton.core.serving_config import ServingConfig
from baton.evaluate import metrics
from baton.evaluate.catalogue import Catalogue
from baton.evaluate.compare import compare
from baton.evaluate.datasets import EvalData
from baton.evaluate.profiler import (
    Plan,
    Point,
    Profile,
    Variant,
    available_gpu_providers,
    count_points,
    profile,
    quantize_int8,
    recommend,
    serving_config,
)
from baton.evaluate.runner import RunResult, TargetTransform, open_session, run_models
from baton.evaluate.sanity import output_facts
from baton.evaluate.scoring import (
    class_indices,
    class_scores,
    classes_of,
    quality,
    reference_range_for,
    scored_output,
)
from baton.store.registry import VersionInfo
from baton.store.store import Store

if TYPE_CHECKING:
    from onnxruntime import InferenceSession


class Progress(Protocol):
    """What the edge shows while the gate works (a rich bar in the CLI)."""

    def begin(self, stage: str, total: int | None) -> None: ...

    def advance(self, n: int) -> None: ...


@dataclass(frozen=True)
class Job:
    """What the gate was asked, resolved and checked before anything runs or is written."""

    candidate: VersionInfo
    manifest: Manifest
    spec: EvalSpec
    baseline: VersionInfo | None
    data: EvalData
    transform: TargetTransform | None
    model_path: Path
    baseline_path: Path | None
    plan: Plan  # the mode's grid, already restricted to the policy's precisions
    cpus: int  # cores a replica may use
    batch_size: int
    policy: Policy
    known: Catalogue

    @property
    def task(self) -> str:
        return self.manifest.task.value

    @property
    def against(self) -> int | None:
        return self.baseline.number if self.baseline else None


@dataclass(frozen=True)
class Scored:
    """Every model's outputs on the eval data and their quality metrics."""

    run: RunResult
    outputs: dict[str, np.ndarray]  # model -> class scores of the scored output
    classes: int
    reference: np.ndarray | None
    probabilities: dict[str, bool]
    scores: dict[str, Metrics]  # model -> its quality metrics

    @property
    def scalars(self) -> dict[str, float | None]:
        """The candidate's single-number metrics (what parity and the report compare)."""
        return {
            k: v
            for k, v in self.scores["candidate"].items()
            if isinstance(v, float | int) or v is None
        }


@dataclass(frozen=True)
class Checked:
    """The quality checks' verdicts, with what the report shows of them."""

    checks: dict[str, gate.Verdict]
    regression: dict[str, object] | None  # the comparison with the baseline, as stored
    sanity: gate.SanityFacts


@dataclass(frozen=True)
class Performance:
    """The profile, the points it picked and the configuration it recommends."""

    measured: Profile
    best: Point | None
    closest: Point | None
    verdict: gate.Verdict
    recommended: ServingConfig | None


def _open_sessions(job: Job, int8_path: Path, notes: list[str]) -> dict[str, InferenceSession]:
    """The candidate's, the baseline's and (when the plan profiles it) the int8 session."""
    sessions = {"candidate": open_session(job.model_path, label="candidate")}
    if job.baseline is not None and job.baseline_path is not None:
        sessions["baseline"] = open_session(job.baseline_path, label=f"baseline {job.baseline.ref}")
    if "int8" in job.plan.precisions:
        problem = quantize_int8(job.model_path, int8_path)
        if problem:
            notes.append(problem)
        else:
            sessions["int8"] = open_session(int8_path, label="int8 model")
    return sessions


def score(job: Job, progress: Progress, notes: list[str], int8_path: Path) -> Scored:
    """Stream the eval data once through every model and measure each one's quality."""
    sessions = _open_sessions(job, int8_path, notes)
    progress.begin(f"running {job.candidate.ref} over {job.data.filename}", job.data.rows)
    run = run_models(
        sessions,
        job.data,
        batch_size=job.batch_size,
        target_transform=job.transform,
        progress=progress.advance,
    )
    del sessions  # the profile opens its own: free these first
    task, manifest = job.task, job.manifest
    out_name = scored_output(manifest).name
    outputs = {m: class_scores(task, o[out_name]) for m, o in run.outputs.items()}
    classes = classes_of(manifest) or (
        outputs["candidate"].shape[-1] if outputs["candidate"].ndim > 1 else 1
    )
    if task == "classification" and job.transform is None and run.target is not None:
        run.target = class_indices(run.target, manifest.labels, classes, job.data.filename)
    reference = run.reference.get(out_name)
    tol = job.policy.sanity.probability_tolerance
    probabilities = {
        m: task == "classification" and metrics.looks_like_probabilities(o, tol)
        for m, o in outputs.items()
    }
    scores = {
        m: quality(task, run.target, o, reference, classes, manifest.labels, probabilities[m])
        for m, o in outputs.items()
    }
    notes += _packaged_scores(scores, job.known, task, outputs, run.target)
    return Scored(
        run=run,
        outputs=outputs,
        classes=classes,
        reference=reference,
        probabilities=probabilities,
        scores=scores,
    )


def _packaged_scores(
    scores: dict[str, Metrics],
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


def check(job: Job, scored: Scored, progress: Progress) -> Checked:
    """Parity with the claims, regression against the baseline, sanity of the outputs."""
    checks = {
        "parity": gate.parity(
            scored.scalars, job.spec.claimed, job.spec.tolerance, job.known.directions()
        )
    }
    regression: dict[str, object] | None = None
    if job.baseline is not None:
        progress.begin(f"comparing with {job.baseline.ref} (bootstrap)", None)
        regression, checks["regression"] = compare(
            job.task,
            scored.run.target,
            scored.outputs,
            scored.reference,
            scored.classes,
            scored.probabilities,
            job.policy,
            job.plan.bootstrap,
            job.manifest.labels,
            job.known,
        )
    else:
        checks["regression"] = gate.skipped("no baseline: no @production version and no --against")
    range_source, range_values = reference_range_for(
        job.task, scored.reference, scored.run.target, job.baseline, scored.outputs
    )
    facts = output_facts(
        scored.outputs["candidate"],
        probabilities=job.task == "classification",
        reference=range_values,
        policy=job.policy.sanity,
        reference_name=range_source,
    )
    checks["sanity"] = gate.sanity(facts, job.policy.sanity)
    return Checked(checks=checks, regression=regression, sanity=facts)


def perform(
    store: Store,
    job: Job,
    scored: Scored,
    int8: Int8Tradeoff | None,
    int8_path: Path,
    progress: Progress,
) -> Performance:
    """Profile each precision, pick the cheapest point meeting the SLO, judge it."""
    variants = (
        [Variant(precision="fp32", path=job.model_path)] if "fp32" in job.plan.precisions else []
    )
    if "int8" in scored.scores:
        variants.append(Variant(precision="int8", path=int8_path))
    sample = next(iter(job.data.batches(256))).inputs
    progress.begin(
        f"profiling ({job.plan.mode})",
        count_points(job.plan, variants, job.cpus, available_gpu_providers()),
    )
    queue_delay_ms = job.policy.performance.queue_delay_ms
    measured = profile(
        variants,
        sample,
        job.plan,
        queue_delay_ms=queue_delay_ms,
        max_cores=job.cpus,
        progress=progress.advance,
    )
    best, closest = recommend(measured, job.manifest.slo, int8_ok=int8 is not None and int8.ok)
    verdict = gate.performance(
        _op(best), _op(closest), job.manifest.slo, require_slo=job.policy.require_slo
    )
    recommended: ServingConfig | None = None
    if best is not None:
        recommended = serving_config(best, measured, queue_delay_ms)
        if recommended.precision == "int8":
            stored = store.artifacts.put_file(int8_path)
            recommended = recommended.model_copy(update={"model_sha256": stored.sha256})
    return Performance(
        measured=measured, best=best, closest=closest, verdict=verdict, recommended=recommended
    )


def _op(point: Point | None) -> gate.OperatingPoint | None:
    if point is None:
        return None
    return gate.OperatingPoint(
        key=point.key,
        cores=point.cores,
        gpus=point.gpus,
        p99_latency_ms=point.served_p99_ms,
        throughput_rps=point.throughput_rps,
    )
