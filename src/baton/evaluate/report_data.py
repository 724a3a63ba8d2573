"""The gate's stored JSON report, built from its stages' results.

``evaluate/report.py`` renders it for people; this module only assembles it, once.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import numpy as np

from baton.core import gate
from baton.core.evaluation import REPORT_SCHEMA, Check, EvaluationReport, Int8Tradeoff
from baton.evaluate.drift_reference import drift_reference
from baton.evaluate.profiler import Point, Profile
from baton.evaluate.stages import Checked, Job, Performance, Scored


def crash_report(job: Job, exc: Exception) -> EvaluationReport:
    """The report of an evaluation ONNX Runtime could not finish."""
    return EvaluationReport(
        schema_version=REPORT_SCHEMA,
        model=job.candidate.model,
        version=job.candidate.number,
        against=job.against,
        mode=job.plan.mode,
        error=str(exc),
        verdict=Check(passed=False, reasons=[str(exc)]),
    )


def build_report(
    job: Job,
    scored: Scored,
    checked: Checked,
    int8: Int8Tradeoff | None,
    perf: Performance,
    notes: list[str],
) -> EvaluationReport:
    """The stored report (NaN and Inf made null), validated as the store will read it."""
    candidate, manifest, run = job.candidate, job.manifest, scored.run
    directions = job.known.directions()
    checks = {**checked.checks, "performance": perf.verdict}
    report = {
        "schema": REPORT_SCHEMA,
        "model": candidate.model,
        "version": candidate.number,
        "label": candidate.label,
        "owner": candidate.owner,
        "task": job.task,
        "mode": job.plan.mode,
        "against": job.against,
        "data": {
            "file": job.data.filename,
            "format": job.data.format,
            "rows": run.rows,
            "sha256": candidate.file("eval_data").sha256,
        },
        "verdict": _verdict(gate.overall(checks)),
        "checks": {name: _verdict(v) for name, v in checks.items()},
        "metrics": scored.scores["candidate"],
        "baseline_metrics": scored.scores.get("baseline"),
        "directions": {k: directions.get(k) for k in scored.scalars},
        "claimed": job.spec.claimed,
        "tolerance": job.spec.tolerance,
        "slo": manifest.slo.model_dump(exclude_none=True) if manifest.slo else None,
        "regression": checked.regression,
        "sanity": asdict(checked.sanity),
        "int8": int8.model_dump() if int8 is not None else None,
        "profile": _profile_report(perf.measured, perf.best, perf.closest),
        "recommended": perf.recommended.model_dump(mode="json") if perf.recommended else None,
        "run_seconds": run.seconds,
        "notes": notes,
        "drift_reference": drift_reference(manifest, job.data, run.outputs["candidate"]),
    }
    return EvaluationReport.model_validate(_json_safe(report))


def _profile_report(
    measured: Profile, best: Point | None, closest: Point | None
) -> dict[str, object]:
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


def _verdict(v: gate.Verdict) -> dict[str, object]:
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
