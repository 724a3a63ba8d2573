"""One Kubernetes workload's pod spec -> the audit's deployments, one per version it serves.

``audit.kubernetes`` finds the workloads in the manifests (kinds, replica bounds, HPAs);
this module reads what a workload serves and what it was given, in stages: the versions
served (``baton.dev/model`` and ``baton.dev/version``, else the ``baton serve`` arguments),
the serving container's resources, the annotations (hardware, owner, SLO, measured
capacity), then one ``Deployment`` per version. A server of several models is split
between them by ``core.inventory.split_between``, the rule baton's own servers follow too.
A bad value is refused, naming the file, the document and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from baton.audit.serve_args import serve_args, serving_container, serving_options, split_serve_args
from baton.core.inventory import (
    SHARED_GPU_NOTE,
    CapacityOption,
    Deployment,
    Resources,
    Serving,
    Source,
    hardware_name,
    parse_cpu,
    parse_memory,
    split_between,
)
from baton.core.refs import parse_ref
from baton.errors import BadInput, BatonError

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


def as_dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


@dataclass
class Doc:
    """One document, and where it came from (for messages and ``Deployment.origin``)."""

    body: dict[str, object]
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
        return str(as_dict(self.body.get("metadata")).get("name", "?"))

    @property
    def namespace(self) -> str | None:
        found = as_dict(self.body.get("metadata")).get("namespace")
        return str(found) if found else None

    @property
    def where(self) -> str:
        return f"{self.file}: document {self.index + 1} ({self.kind} {self.name})"

    @property
    def label(self) -> str:
        """How notes name the workload: namespace/name."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass
class Found:
    deployments: list[Deployment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet or InferenceService, read up to its pod spec."""

    doc: Doc
    meta: dict[str, str]  # labels and annotations, annotations winning
    pod: dict[str, object]
    pod_path: str  # where the pod spec is, for messages: spec.template.spec...
    replicas: int
    min_replicas: int | None
    max_replicas: int | None
    pod_prefix: str  # its pods' names start with it
    source: Source


@dataclass(frozen=True)
class _Given:
    """What one model of the workload's server gets, and what the annotations declare."""

    resources: Resources  # the server's, split between the models it serves
    serving: Serving
    slo_p99_ms: float | None
    rps_at_slo: float | None


def whole_number(doc: Doc, value: object, path: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BadInput(f"{doc.where}: {path}: expected a whole number >= {low}, got {value!r}")
    return value


def emit(w: Workload, out: Found) -> None:
    """Turn one workload into deployments (one per model version it serves)."""
    found = serving_container(w.pod)
    args = serve_args(found[1]) if found else None
    refs, options = split_serve_args(args) if args is not None else ([], {})
    served = _served(w, refs)
    note = _unservable(w, served)
    if note is not None:
        out.notes.append(note)
        return
    if found is None:
        raise BadInput(
            f"{w.doc.where}: {w.pod_path}.containers: no container to read resources from"
        )
    whole = _resources(w, *found, out)
    if len(served) > 1:
        gpus = f"; {SHARED_GPU_NOTE}" if whole.gpus else ""
        out.notes.append(
            f"{w.doc.label} ({w.doc.file}): one server for {len(served)} models: its "
            f"resources are split evenly between them{gpus}"
        )
    given = _Given(
        resources=split_between(whole, len(served)),
        slo_p99_ms=_number(w.doc, w.meta, SLO),
        rps_at_slo=_number(w.doc, w.meta, RPS),
        serving=serving_options(w.doc.where, options),
    )
    for model, version in served:
        name = w.doc.label if len(served) == 1 else f"{w.doc.label}/{model}:{version}"
        out.deployments.append(_deployment(w, name, model, version, given))


def _served(w: Workload, refs: list[str]) -> list[tuple[str, str | None]]:
    """(model, version) pairs the workload serves: its annotations, else its references."""
    if MODEL in w.meta:
        return [(w.meta[MODEL], w.meta.get(VERSION))]
    try:
        parsed = [parse_ref(r) for r in refs]
    except BatonError as exc:
        raise BadInput(f"{w.doc.where}: baton serve arguments: {exc.message}") from None
    return [(r.name, str(r.version) if r.version else w.meta.get(VERSION)) for r in parsed]


def _unservable(w: Workload, served: list[tuple[str, str | None]]) -> str | None:
    """Why the workload is skipped (no model named, or a version not pinned), if it is."""
    where = f"{w.doc.label} ({w.doc.file}): skipped"
    if not served:
        return (
            f"{where}, it names no model: add the annotations {MODEL} and {VERSION} "
            "(the labels its metrics carry)"
        )
    unpinned = [m for m, v in served if not v]
    if unpinned:
        return (
            f"{where}, the version of {unpinned[0]} is not pinned: add the annotation "
            f"{VERSION} or serve NAME:N"
        )
    return None


def _resources(w: Workload, index: int, container: dict[str, object], out: Found) -> Resources:
    """What the serving container was given: requests (else limits), limits, GPUs."""
    doc, at = w.doc, f"{w.pod_path}.containers[{index}].resources"
    resources = as_dict(container.get("resources"))
    requests, limits = as_dict(resources.get("requests")), as_dict(resources.get("limits"))
    cpu = requests.get("cpu", limits.get("cpu"))
    memory = requests.get("memory", limits.get("memory"))
    part = "requests" if "cpu" in requests else "limits"
    cores = _quantity(doc, f"{at}.{part}.cpu", cpu, False) if cpu is not None else 0.0
    part = "requests" if "memory" in requests else "limits"
    mem = _quantity(doc, f"{at}.{part}.memory", memory, True) if memory is not None else 0.0
    if cpu is None or memory is None:
        missing = " and ".join(n for n, v in (("cpu", cpu), ("memory", memory)) if v is None)
        out.notes.append(f"{doc.label} ({doc.file}): no {missing} request: counted as 0")
    cpu_limit = (
        _quantity(doc, f"{at}.limits.cpu", limits["cpu"], False) if "cpu" in limits else None
    )
    mem_limit = (
        _quantity(doc, f"{at}.limits.memory", limits["memory"], True)
        if "memory" in limits
        else None
    )
    gpus = _gpus(doc, at, limits.get(GPU, requests.get(GPU, 0)))
    hardware = _hardware(w.meta, w.pod)
    if gpus and hardware is None:
        out.notes.append(
            f"{doc.label} ({doc.file}): asks for {gpus} GPU(s) of no named type: add the "
            f"annotation {HARDWARE} (a price-table key such as nvidia-t4)"
        )
    return Resources(
        cores=cores,
        memory_bytes=mem,
        cpu_limit=cpu_limit,
        memory_limit_bytes=mem_limit,
        gpus=gpus,
        hardware=hardware or ("gpu" if gpus else "cpu"),
    )


def _gpus(doc: Doc, at: str, value: object) -> int:
    try:
        gpus = int(str(value))
        if gpus < 0:
            raise ValueError(gpus)
    except ValueError:
        raise BadInput(
            f"{doc.where}: {at}.limits.{GPU}: expected a whole number, got {value!r}"
        ) from None
    return gpus


def _deployment(
    w: Workload, name: str, model: str, version: str | None, given: _Given
) -> Deployment:
    """One served version as a ``Deployment``; a value pydantic refuses names its field."""
    res, rps = given.resources, given.rps_at_slo
    capacity = (
        (CapacityOption(hardware=res.hardware, cores=max(res.cores, 1e-3), gpus=res.gpus,
                        rps_at_slo=rps),)
        if rps is not None else ()
    )  # fmt: skip
    try:
        return Deployment(
            name=name,
            model=model,
            version=str(version),
            source=w.source,
            replicas=w.replicas,
            min_replicas=w.min_replicas,
            max_replicas=w.max_replicas,
            resources=res,
            serving=given.serving,
            namespace=w.doc.namespace,
            pod_prefix=w.pod_prefix,
            owner=w.meta.get(OWNER),
            slo_p99_ms=given.slo_p99_ms,
            capacity=capacity,
            origin=f"{w.doc.file}: document {w.doc.index + 1}",
        )
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        problem = str(err["msg"]).removeprefix("Value error, ")
        raise BadInput(f"{w.doc.where}: {where or 'replicas'}: {problem}") from None


def _quantity(doc: Doc, path: str, value: object, memory: bool) -> float:
    if not isinstance(value, str | int | float) or value != value or value in (_INF, -_INF):
        what = "memory" if memory else "CPU"
        raise BadInput(f"{doc.where}: {path}: {what} {value!r} is not a quantity")
    try:
        return parse_memory(value) if memory else parse_cpu(value)
    except ValueError as exc:
        raise BadInput(f"{doc.where}: {path}: {exc}") from None


def _number(doc: Doc, meta: dict[str, str], key: str) -> float | None:
    if key not in meta:
        return None
    try:
        value = float(meta[key])
    except ValueError:
        value = -1.0
    if not value > 0:
        raise BadInput(f"{doc.where}: {key}: expected a number above 0, got {meta[key]!r}")
    return value


def _hardware(meta: dict[str, str], pod: dict[str, object]) -> str | None:
    if meta.get(HARDWARE):
        return meta[HARDWARE]
    selector = as_dict(pod.get("nodeSelector"))
    for label in ACCELERATOR_LABELS:
        if selector.get(label):
            return hardware_name(str(selector[label]))
    return None
