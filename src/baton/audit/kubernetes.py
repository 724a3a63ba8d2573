"""Kubernetes and KServe manifests as the audit's inventory.

``read_manifests`` reads YAML files (several documents each, ``kind: List`` included) and
folders of ``*.yaml`` / ``*.yml``: apps/v1 Deployments and StatefulSets, KServe
InferenceServices (serving.kserve.io/v1beta1) and HorizontalPodAutoscalers (autoscaling/v1,
v2), whose replica bounds apply to the workload they target. Other kinds are skipped.

Which model version a workload serves, from its metadata or its pod template's (labels or
annotations), else from the arguments of a ``baton serve`` container:

- ``baton.dev/model``, ``baton.dev/version``: the ``model`` and ``version`` labels its
  metrics carry. Without them, a container running ``baton serve NAME:N ...`` names them
  (one deployment per pinned reference). A workload naming neither is skipped with a note.
- ``baton.dev/hardware``: the price-table key (``nvidia-t4``...); otherwise read from the
  node selector (``cloud.google.com/gke-accelerator``, ``nvidia.com/gpu.product``).
- ``baton.dev/owner``, ``baton.dev/slo-p99-ms``, and ``baton.dev/rps-at-slo`` (measured
  req/s one replica serves within the SLO, on this workload's resources).

Resources are the serving container's (the one running ``baton serve``, else KServe's
``kserve-container``, else the first): sidecars are not counted, since the audit compares
the server's own usage with what it was given. GPUs are ``nvidia.com/gpu`` limits.
A server of several models has its CPU and memory split evenly between them and each
counted with all of its GPUs (``core.inventory.split_between``, as for baton's own servers).
A workload that names a model but holds a bad value is refused, naming the file, the
document and the field. Reading a workload's pod spec is ``audit.k8s_workload``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from baton.audit.k8s_workload import (
    Doc,
    Found,
    Workload,
    as_dict,
    as_list,
    emit,
    whole_number,
)
from baton.core.inventory import Deployment
from baton.errors import BadInput
from baton.yaml_files import read_yaml_documents

WORKLOADS = {("apps", "Deployment"), ("apps", "StatefulSet")}
KSERVE = ("serving.kserve.io", "InferenceService")
HPA_GROUP = "autoscaling"


@dataclass
class _Bounds:
    low: int | None
    high: int | None


def read_manifests(paths: Sequence[Path]) -> tuple[list[Deployment], list[str]]:
    """Deployments described by manifests, and notes on the workloads that were skipped."""
    docs = [d for path in paths for file in _files(path) for d in _documents(file)]
    bounds: dict[tuple[str | None, str, str], _Bounds] = {}
    for doc in docs:
        if doc.group == HPA_GROUP and doc.kind == "HorizontalPodAutoscaler":
            target, found = _hpa(doc)
            bounds[target] = found
    found_all = Found()
    for doc in docs:
        if (doc.group, doc.kind) in WORKLOADS:
            key = (doc.namespace, doc.kind, doc.name)
            emit(_workload(doc, bounds.get(key)), found_all)
        elif (doc.group, doc.kind) == KSERVE:
            emit(_inference_service(doc), found_all)
    return found_all.deployments, found_all.notes


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not path.exists():
        raise BadInput(f"{path}: no such manifest file or folder; check --manifests")
    return [path]


def _documents(file: Path) -> Iterator[Doc]:
    for index, body in enumerate(read_yaml_documents(file, "manifest", "--manifests")):
        if not isinstance(body, dict):
            continue
        if body.get("kind") == "List":  # `kubectl get -o yaml` output
            for item in as_list(body.get("items")):
                if isinstance(item, dict):
                    yield Doc(item, file, index)
        else:
            yield Doc(body, file, index)


def _hpa(doc: Doc) -> tuple[tuple[str | None, str, str], _Bounds]:
    spec = as_dict(doc.body.get("spec"))
    ref = as_dict(spec.get("scaleTargetRef"))
    low = spec.get("minReplicas", 1)
    high = spec.get("maxReplicas")
    bounds = _Bounds(
        whole_number(doc, low, "spec.minReplicas"),
        whole_number(doc, high, "spec.maxReplicas", 1) if high is not None else None,
    )
    if bounds.high is not None and bounds.low is not None and bounds.low > bounds.high:
        raise BadInput(
            f"{doc.where}: spec.minReplicas {bounds.low} is above spec.maxReplicas {bounds.high}"
        )
    return (doc.namespace, str(ref.get("kind", "")), str(ref.get("name", ""))), bounds


def _meta(*bodies: dict[str, object]) -> dict[str, str]:
    """Labels then annotations of each metadata, later ones winning (annotations > labels)."""
    found: dict[str, str] = {}
    for body in bodies:
        meta = as_dict(body.get("metadata"))
        for part in ("labels", "annotations"):
            found.update({str(k): str(v) for k, v in as_dict(meta.get(part)).items()})
    return found


def _workload(doc: Doc, hpa: _Bounds | None) -> Workload:
    spec = as_dict(doc.body.get("spec"))
    template = as_dict(spec.get("template"))
    replicas = spec.get("replicas")
    low = high = None
    if replicas is not None:
        replicas = whole_number(doc, replicas, "spec.replicas")
    if hpa is not None:
        low, high = hpa.low, hpa.high
        replicas = replicas if replicas is not None else low
    return Workload(
        doc=doc,
        meta=_meta(doc.body, template),
        pod=as_dict(template.get("spec")),
        pod_path="spec.template.spec",
        replicas=replicas if replicas is not None else 1,
        min_replicas=low,
        max_replicas=high,
        pod_prefix=f"{doc.name}-",
        source="kubernetes",
    )


def _inference_service(doc: Doc) -> Workload:
    spec = as_dict(doc.body.get("spec"))
    predictor = as_dict(spec.get("predictor"))
    low = whole_number(doc, predictor.get("minReplicas", 1), "spec.predictor.minReplicas")
    high_value = predictor.get("maxReplicas")
    high = whole_number(doc, high_value, "spec.predictor.maxReplicas") if high_value else None
    # KServe's predictor is a pod spec, with the model's container under `model` (or an
    # older per-framework key such as `sklearn`): gather the containers in one list
    containers = [c for c in as_list(predictor.get("containers")) if isinstance(c, dict)]
    for key, value in predictor.items():
        if key != "containers" and isinstance(value, dict) and "resources" in value:
            containers.insert(0, {"name": "kserve-container", **value})
    return Workload(
        doc=doc,
        meta=_meta(doc.body, predictor),
        pod={**predictor, "containers": containers},
        pod_path="spec.predictor",
        replicas=low,
        min_replicas=low,
        max_replicas=high if high and high != low else None,
        pod_prefix=f"{doc.name}-predictor-",
        source="kserve",
    )
