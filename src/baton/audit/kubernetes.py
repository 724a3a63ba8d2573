"""Kubernetes and KServe manifests as the audit's inventory.

``read_manifests`` reads YAML files (several documents each, ``kind: List`` included) and
folders of ``*.yaml`` / ``*.yml``: apps/v1 Deployments and StatefulSets, KServe
InferenceServices (serving.kserve.io/v1beta1) and HorizontalPodAutoscalers (autoscaling/v1,
v2), whose replica bounds apply to the workload they target. Other kinds are skipped.

Which model version a workload serves, from its metadata or its pod template's (labels or
annotations), else from the arguments of a ``baton serve`` container:

- ``baton.dev/model``, ``baton.dev/version``: the ``model`` and ``version`` labels its
  metrics carry. Without them, a container running ``baton serve NAME:N ...`` names them
  (one deployment per pinned reference; a server of several models has its resources
  split evenly between them). A workload naming neither is skipped with a note.
- ``baton.dev/hardware``: the price-table key (``nvidia-t4``...); otherwise read from the
  node selector (``cloud.google.com/gke-accelerator``, ``nvidia.com/gpu.product``).
- ``baton.dev/owner``, ``baton.dev/slo-p99-ms``, and ``baton.dev/rps-at-slo`` (measured
  req/s one replica serves within the SLO, on this workload's resources).

Resources are the serving container's (the one running ``baton serve``, else KServe's
``kserve-container``, else the first): sidecars are not counted, since the audit compares
the server's own usage with what it was given. GPUs are ``nvidia.com/gpu`` limits.
A workload that names a model but holds a bad value is refused, naming the file, the
document and the field.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from baton.core.inventory import (
    CapacityOption,
    Deployment,
    Resources,
    Serving,
    Source,
    hardware_name,
    parse_cpu,
    parse_memory,
)
from baton.core.refs import parse_ref
from baton.errors import BadInput, BatonError
from baton.yaml_files import yaml_problem

MODEL, VERSION = "baton.dev/model", "baton.dev/version"
HARDWARE, OWNER = "baton.dev/hardware", "baton.dev/owner"
SLO, RPS = "baton.dev/slo-p99-ms", "baton.dev/rps-at-slo"
GPU = "nvidia.com/gpu"
_INF = float("inf")
ACCELERATOR_LABELS = (
    "cloud.google.com/gke-accelerator",
    "nvidia.com/gpu.product",
    "k8s.amazonaws.com/accelerator",
)
WORKLOADS = {("apps", "Deployment"), ("apps", "StatefulSet")}
KSERVE = ("serving.kserve.io", "InferenceService")
HPA_GROUP = "autoscaling"
# `baton serve` options that take a value (the rest of the arguments are references)
SERVE_VALUE_OPTIONS = {
    "--host", "--port", "--workers", "--max-batch-size", "--max-queue-delay-ms", "--threads",
    "--max-queue", "--max-body-mb", "--poll-interval", "--drain-timeout", "--precision",
    "--max-connections", "--header-timeout", "--body-timeout", "--body-budget-mb",
    "--admin-token", "--grpc-port", "--model-dir",
}  # fmt: skip


@dataclass
class _Doc:
    """One document, and where it came from (for messages and ``Deployment.origin``)."""

    body: dict[str, Any]
    file: Path
    index: int  # 0-based document position in its file

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def group(self) -> str:
        api = str(self.body.get("apiVersion", ""))
        return api.split("/")[0] if "/" in api else ""

    @property
    def name(self) -> str:
        return str(_dict(self.body.get("metadata")).get("name", "?"))

    @property
    def namespace(self) -> str | None:
        found = _dict(self.body.get("metadata")).get("namespace")
        return str(found) if found else None

    @property
    def where(self) -> str:
        return f"{self.file}: document {self.index + 1} ({self.kind} {self.name})"


@dataclass
class _Bounds:
    low: int | None
    high: int | None


@dataclass
class _Found:
    deployments: list[Deployment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def read_manifests(paths: Sequence[Path]) -> tuple[list[Deployment], list[str]]:
    """Deployments described by manifests, and notes on the workloads that were skipped."""
    docs = [d for path in paths for file in _files(path) for d in _documents(file)]
    bounds: dict[tuple[str | None, str, str], _Bounds] = {}
    for doc in docs:
        if doc.group == HPA_GROUP and doc.kind == "HorizontalPodAutoscaler":
            target, found = _hpa(doc)
            bounds[target] = found
    found_all = _Found()
    for doc in docs:
        if (doc.group, doc.kind) in WORKLOADS:
            key = (doc.namespace, doc.kind, doc.name)
            _workload(doc, bounds.get(key), found_all)
        elif (doc.group, doc.kind) == KSERVE:
            _inference_service(doc, found_all)
    return found_all.deployments, found_all.notes


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    if not path.exists():
        raise BadInput(f"{path}: no such manifest file or folder; check --manifests")
    return [path]


def _documents(file: Path) -> Iterator[_Doc]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{file}: cannot read the manifest: {exc}") from None
    try:
        bodies = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise BadInput(f"{file}: not valid YAML{yaml_problem(exc)}") from None
    for index, body in enumerate(bodies):
        if not isinstance(body, dict):
            continue
        if body.get("kind") == "List":  # `kubectl get -o yaml` output
            for item in _list(body.get("items")):
                if isinstance(item, dict):
                    yield _Doc(item, file, index)
        else:
            yield _Doc(body, file, index)


def _int(doc: _Doc, value: object, path: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BadInput(f"{doc.where}: {path}: expected a whole number >= {low}, got {value!r}")
    return value


def _hpa(doc: _Doc) -> tuple[tuple[str | None, str, str], _Bounds]:
    spec = _dict(doc.body.get("spec"))
    ref = _dict(spec.get("scaleTargetRef"))
    low = spec.get("minReplicas", 1)
    high = spec.get("maxReplicas")
    bounds = _Bounds(
        _int(doc, low, "spec.minReplicas"),
        _int(doc, high, "spec.maxReplicas", 1) if high is not None else None,
    )
    if bounds.high is not None and bounds.low is not None and bounds.low > bounds.high:
        raise BadInput(
            f"{doc.where}: spec.minReplicas {bounds.low} is above spec.maxReplicas {bounds.high}"
        )
    return (doc.namespace, str(ref.get("kind", "")), str(ref.get("name", ""))), bounds


def _meta(*bodies: dict[str, Any]) -> dict[str, str]:
    """Labels then annotations of each metadata, later ones winning (annotations > labels)."""
    found: dict[str, str] = {}
    for body in bodies:
        meta = _dict(body.get("metadata"))
        for part in ("labels", "annotations"):
            found.update({str(k): str(v) for k, v in _dict(meta.get(part)).items()})
    return found


def _workload(doc: _Doc, hpa: _Bounds | None, out: _Found) -> None:
    spec = _dict(doc.body.get("spec"))
    template = _dict(spec.get("template"))
    pod = _dict(template.get("spec"))
    meta = _meta(doc.body, template)
    replicas = spec.get("replicas")
    low = high = None
    if replicas is not None:
        replicas = _int(doc, replicas, "spec.replicas")
    if hpa is not None:
        low, high = hpa.low, hpa.high
        replicas = replicas if replicas is not None else low
    source: Source = "kubernetes"
    _emit(
        doc, meta, pod, "spec.template.spec", replicas if replicas is not None else 1, low, high,
        f"{doc.name}-", source, out,
    )  # fmt: skip


def _inference_service(doc: _Doc, out: _Found) -> None:
    spec = _dict(doc.body.get("spec"))
    predictor = _dict(spec.get("predictor"))
    meta = _meta(doc.body, predictor)
    low = _int(doc, predictor.get("minReplicas", 1), "spec.predictor.minReplicas")
    high_value = predictor.get("maxReplicas")
    high = _int(doc, high_value, "spec.predictor.maxReplicas") if high_value else None
    # KServe's predictor is a pod spec, with the model's container under `model` (or an
    # older per-framework key such as `sklearn`): gather the containers in one list
    containers = [c for c in _list(predictor.get("containers")) if isinstance(c, dict)]
    for key, value in predictor.items():
        if key != "containers" and isinstance(value, dict) and "resources" in value:
            containers.insert(0, {"name": "kserve-container", **value})
    pod = {**predictor, "containers": containers}
    _emit(
        doc, meta, pod, "spec.predictor", low, low, high if high and high != low else None,
        f"{doc.name}-predictor-", "kserve", out,
    )  # fmt: skip


def _serve_args(container: dict[str, Any]) -> list[str] | None:
    """The arguments after ``serve`` when the container runs ``baton serve``, else None."""
    tokens = [str(t) for t in _list(container.get("command")) + _list(container.get("args"))]
    if "serve" not in tokens:
        return None
    at = tokens.index("serve")
    if at > 0 and not any("baton" in t for t in tokens[:at]):
        return None
    return tokens[at + 1 :]


def _split_serve_args(args: list[str]) -> tuple[list[str], dict[str, str]]:
    refs: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        token = args[i]
        if token.startswith("--"):
            name, eq, value = token.partition("=")
            if not eq and name in SERVE_VALUE_OPTIONS and i + 1 < len(args):
                value = args[i + 1]
                i += 1
            options[name] = value
        else:
            refs.append(token)
        i += 1
    return refs, options


def _container(pod: dict[str, Any]) -> tuple[int, dict[str, Any]] | None:
    containers = [c for c in _list(pod.get("containers")) if isinstance(c, dict)]
    if not containers:
        return None
    for i, c in enumerate(containers):
        if _serve_args(c) is not None:
            return i, c
    for i, c in enumerate(containers):
        if c.get("name") == "kserve-container":
            return i, c
    return 0, containers[0]


def _quantity(doc: _Doc, path: str, value: object, memory: bool) -> float:
    if not isinstance(value, str | int | float) or value != value or value in (_INF, -_INF):
        what = "memory" if memory else "CPU"
        raise BadInput(f"{doc.where}: {path}: {what} {value!r} is not a quantity")
    try:
        return parse_memory(value) if memory else parse_cpu(value)
    except ValueError as exc:
        raise BadInput(f"{doc.where}: {path}: {exc}") from None


def _number(doc: _Doc, meta: dict[str, str], key: str) -> float | None:
    if key not in meta:
        return None
    try:
        value = float(meta[key])
    except ValueError:
        value = -1.0
    if not value > 0:
        raise BadInput(f"{doc.where}: {key}: expected a number above 0, got {meta[key]!r}")
    return value


def _hardware(meta: dict[str, str], pod: dict[str, Any]) -> str | None:
    if meta.get(HARDWARE):
        return meta[HARDWARE]
    selector = _dict(pod.get("nodeSelector"))
    for label in ACCELERATOR_LABELS:
        if selector.get(label):
            return hardware_name(str(selector[label]))
    return None


def _emit(
    doc: _Doc,
    meta: dict[str, str],
    pod: dict[str, Any],
    pod_path: str,
    replicas: int,
    low: int | None,
    high: int | None,
    prefix: str,
    source: Source,
    out: _Found,
) -> None:
    """Turn one workload into deployments (one per model version it serves)."""
    label = f"{doc.namespace}/{doc.name}" if doc.namespace else doc.name
    found = _container(pod)
    args = _serve_args(found[1]) if found else None
    refs, options = _split_serve_args(args) if args is not None else ([], {})
    try:
        if MODEL in meta:
            served = [(meta[MODEL], meta.get(VERSION))]
        else:
            parsed = [parse_ref(r) for r in refs]
            served = [(r.name, str(r.version) if r.version else meta.get(VERSION)) for r in parsed]
    except BatonError as exc:
        raise BadInput(f"{doc.where}: baton serve arguments: {exc.message}") from None
    if not served:
        out.notes.append(
            f"{label} ({doc.file}): skipped, it names no model: add the annotations "
            f"{MODEL} and {VERSION} (the labels its metrics carry)"
        )
        return
    unpinned = [m for m, v in served if not v]
    if unpinned:
        out.notes.append(
            f"{label} ({doc.file}): skipped, the version of {unpinned[0]} is not pinned: "
            f"add the annotation {VERSION} or serve NAME:N"
        )
        return
    if found is None:
        raise BadInput(f"{doc.where}: {pod_path}.containers: no container to read resources from")
    index, container = found
    at = f"{pod_path}.containers[{index}].resources"
    resources = _dict(container.get("resources"))
    requests, limits = _dict(resources.get("requests")), _dict(resources.get("limits"))
    cpu = requests.get("cpu", limits.get("cpu"))
    memory = requests.get("memory", limits.get("memory"))
    part = "requests" if "cpu" in requests else "limits"
    cores = _quantity(doc, f"{at}.{part}.cpu", cpu, False) if cpu is not None else 0.0
    part = "requests" if "memory" in requests else "limits"
    mem = _quantity(doc, f"{at}.{part}.memory", memory, True) if memory is not None else 0.0
    if cpu is None or memory is None:
        missing = " and ".join(n for n, v in (("cpu", cpu), ("memory", memory)) if v is None)
        out.notes.append(f"{label} ({doc.file}): no {missing} request: counted as 0")
    cpu_limit = (
        _quantity(doc, f"{at}.limits.cpu", limits["cpu"], False) if "cpu" in limits else None
    )
    mem_limit = (
        _quantity(doc, f"{at}.limits.memory", limits["memory"], True)
        if "memory" in limits
        else None
    )
    gpu_value = limits.get(GPU, requests.get(GPU, 0))
    try:
        gpus = int(str(gpu_value))
        if gpus < 0:
            raise ValueError(gpus)
    except ValueError:
        raise BadInput(
            f"{doc.where}: {at}.limits.{GPU}: expected a whole number, got {gpu_value!r}"
        ) from None
    hardware = _hardware(meta, pod)
    if gpus and hardware is None:
        out.notes.append(
            f"{label} ({doc.file}): asks for {gpus} GPU(s) of no named type: add the annotation "
            f"{HARDWARE} (a price-table key such as nvidia-t4)"
        )
    share = len(served)
    if share > 1:
        out.notes.append(
            f"{label} ({doc.file}): one server for {share} models: its resources are split "
            "evenly between them"
        )
    slo = _number(doc, meta, SLO)
    rps = _number(doc, meta, RPS)
    serving = _serving(doc, options)
    for model, version in served:
        name = label if share == 1 else f"{label}/{model}:{version}"
        given = Resources(
            cores=cores / share,
            memory_bytes=mem / share,
            cpu_limit=cpu_limit / share if cpu_limit is not None else None,
            memory_limit_bytes=mem_limit / share if mem_limit is not None else None,
            gpus=gpus // share if share > 1 else gpus,
            hardware=hardware or ("gpu" if gpus else "cpu"),
        )
        capacity = (
            (CapacityOption(hardware=given.hardware, cores=max(given.cores, 1e-3), gpus=given.gpus,
                            rps_at_slo=rps),)
            if rps is not None else ()
        )  # fmt: skip
        try:
            out.deployments.append(
                Deployment(
                    name=name,
                    model=model,
                    version=str(version),
                    source=source,
                    replicas=replicas,
                    min_replicas=low,
                    max_replicas=high,
                    resources=given,
                    serving=serving,
                    namespace=doc.namespace,
                    pod_prefix=prefix,
                    owner=meta.get(OWNER),
                    slo_p99_ms=slo,
                    capacity=capacity,
                    origin=f"{doc.file}: document {doc.index + 1}",
                )
            )
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"])
            problem = str(err["msg"]).removeprefix("Value error, ")
            raise BadInput(f"{doc.where}: {where or 'replicas'}: {problem}") from None


def _serving(doc: _Doc, options: dict[str, str]) -> Serving:
    names = {"--workers": "workers", "--max-batch-size": "max_batch_size", "--threads": "threads"}
    values: dict[str, int] = {}
    for option, key in names.items():
        if option in options:
            text = options[option]
            if not text.isdigit() or int(text) < 1:
                raise BadInput(
                    f"{doc.where}: baton serve {option}: expected a whole number >= 1, got {text!r}"
                )
            values[key] = int(text)
    return Serving.model_validate(values)
