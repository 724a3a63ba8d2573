"""Gather a ``RenderSpec`` from the registry entry, its evaluation, an audit file and flags."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from baton import __version__
from baton.core.refs import Ref
from baton.core.serving_config import ServingConfig
from baton.deploy.bundle import int8_copy
from baton.deploy.spec import Canary, RenderSpec, choose_resources, model_folder
from baton.errors import BadInput, FailedCheck
from baton.store.evaluations import EvaluationRecord
from baton.store.registry import VersionInfo
from baton.store.store import Store

if TYPE_CHECKING:
    from baton.deploy.service import RenderRequest


def gather_spec(
    store: Store, info: VersionInfo, evaluation: EvaluationRecord, request: RenderRequest
) -> RenderSpec:
    from baton.deploy.wheel import checkout, revision

    config = evaluation.recommended or ServingConfig()
    audit = _audit_target(request, info) if request.from_audit is not None else None
    recommended = (evaluation.id, config) if evaluation.recommended else None
    resources = choose_resources(request.resources, audit, recommended, request.hardware)
    slo = info.manifest.slo.p99_latency_ms if info.manifest.slo else None
    precision, int8 = resolve_precision(info, evaluation, request.precision)
    same_replica = resources.cores == config.cores and resources.gpus == config.gpus
    measured = same_replica and precision == config.precision  # what the profile measured
    rps = config.throughput_rps if recommended and measured else None
    name = info.model
    return RenderSpec(
        model=name,
        version=info.number,
        owner=info.owner,
        digest=info.sha256,
        evaluation=evaluation.id,
        config=config,
        resources=resources,
        slo_p99_ms=slo,
        rps_at_slo=rps,
        baton_version=__version__,
        revision=revision(checkout())[0],
        image=request.image or f"baton/{name}:{info.number}",
        namespace=request.namespace,
        storage_uri=request.storage_uri
        or f"pvc://baton-artifacts/{model_folder(info.sha256, precision)}",
        kserve_mode=request.kserve_mode,
        canary=_canary(store, info, request, precision),
        model_from=request.model_from,
        with_monitoring=request.with_monitoring,
        with_router=request.with_router,
        precision=precision,
        int8_sha256=int8,
        grpc_port=request.grpc_port,
    )


def resolve_precision(
    info: VersionInfo, evaluation: EvaluationRecord, asked: str | None
) -> tuple[Literal["fp32", "int8"], str | None]:
    """(the precision the servers run, the int8 copy's digest when it is int8).

    As ``baton serve --precision``: nothing asked or fp32 is the registered model;
    ``recommended`` is what the evaluation recommends; int8 needs the int8 copy the
    evaluation made, and without one is refused, naming the evaluation that makes one.
    """
    copy = int8_copy(evaluation)
    if asked == "int8" or (asked == "recommended" and copy is not None):
        if copy is None:
            said = evaluation.recommended.precision if evaluation.recommended else "nothing"
            raise BadInput(
                f"--precision int8: {info.ref} has no int8 copy (its latest evaluation, "
                f"{evaluation.id}, recommends {said}): run `baton evaluate {info.ref} --full` "
                "to measure int8, or render without --precision int8"
            )
        return "int8", copy
    return "fp32", None


def _canary(
    store: Store, info: VersionInfo, request: RenderRequest, precision: str
) -> Canary | None:
    if request.canary is None or request.percent is None:
        return None
    if request.canary == info.number:
        raise BadInput(f"--canary {request.canary} is the version being rendered: name another")
    canary = store.registry.resolve(Ref(info.model, version=request.canary))
    latest = store.evaluations.latest(canary.model, canary.number)
    if latest is None or not latest.passed:
        raise FailedCheck(
            f"canary {canary.ref} did not pass the gate: evaluate it before sending it traffic"
        )
    if not 1 <= request.percent <= 99:
        raise BadInput(f"--percent {request.percent}: give the canary's share, 1..99")
    if precision == "int8" and int8_copy(latest) is None:  # one runtime, one precision
        raise BadInput(
            f"serving int8 with --canary {canary.number}: {canary.ref} has no int8 copy "
            f"and the runtime serves both versions at int8: run `baton evaluate {canary.ref} "
            "--full` to measure int8, or render without --precision int8"
        )
    return Canary(version=canary.number, digest=canary.sha256, percent=request.percent)


def _audit_target(request: RenderRequest, info: VersionInfo) -> tuple[str, dict[str, object]]:
    """The ``target`` of the audit row for this version (``baton audit --json`` output)."""
    path = request.from_audit
    assert path is not None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"--from-audit {path}: cannot read it as JSON ({exc})") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise BadInput(f"--from-audit {path}: not `baton audit --json` output (no rows)")
    for row in rows:
        if not isinstance(row, dict):
            continue
        target = row.get("target")
        same = row.get("model") == info.model and str(row.get("version")) == str(info.number)
        if same and isinstance(target, dict):
            return path.name, target
    raise BadInput(
        f"--from-audit {path}: no row for {info.ref}; audit a deployment of it, "
        "or give the resources with --cpu/--memory"
    )
