"""KServe: a ClusterServingRuntime running baton's V2 server, and an InferenceService.

Standard mode (KServe's default since 0.15) is rendered explicitly, because the canary
list of KServe 0.20 (``spec.canary``) is accepted only there. ``--kserve-mode knative``
renders the Serverless form, where a canary is the legacy ``canaryTrafficPercent`` on the
predictor (KServe keeps the previous revision for the rest of the traffic).
"""

from __future__ import annotations

from baton.deploy.command import serve_command
from baton.deploy.k8s import container_ports, container_security, resources
from baton.deploy.spec import PORT, RenderSpec, model_folder
from baton.deploy.text import (
    TRACK,
    Document,
    audit_annotations,
    header,
    labels,
    yaml_documents,
)

RUNTIME = "baton-v2"
FORMAT = {"name": "baton", "version": "1"}
MODE = "serving.kserve.io/deploymentMode"


def runtime(spec: RenderSpec) -> Document:
    """The runtime both predictors (stable and canary) run: one command, one precision.

    Its ports become the predictor Service's (Standard mode): the first as port 80, any
    other under its own number, so a gRPC port is reached as ``{isvc}-predictor:PORT``.
    Knative routes one port per container, so gRPC is rendered for Standard mode only.
    """
    return {
        "apiVersion": "serving.kserve.io/v1alpha1",
        "kind": "ClusterServingRuntime",
        "metadata": {"name": RUNTIME, "labels": {"app.kubernetes.io/part-of": "baton"}},
        "spec": {
            "annotations": {
                "prometheus.kserve.io/port": str(PORT),
                "prometheus.kserve.io/path": "/metrics",
            },
            "supportedModelFormats": [{**FORMAT, "autoSelect": True, "priority": 1}],
            "protocolVersions": ["v2"],
            "multiModel": False,
            "containers": [{
                "name": "kserve-container",
                "image": spec.image,
                "command": ["baton"],
                "args": serve_command(spec).args(),
                "env": [{"name": "BATON_HOME", "value": "/tmp/baton"}],
                "ports": container_ports(spec, http_name=None),
                "resources": resources(spec),
                "securityContext": container_security(),
            }],
        },
    }  # fmt: skip


def _model(spec: RenderSpec, storage_uri: str, name: str | None = None) -> Document:
    model: Document = {"modelFormat": dict(FORMAT)}
    if name is not None:
        model["name"] = name
    model.update({
        "runtime": RUNTIME,
        "protocolVersion": "v2",
        "storageUri": storage_uri,
        "resources": resources(spec),
    })  # fmt: skip
    return model


def _predictor(spec: RenderSpec, storage_uri: str) -> Document:
    r = spec.resources
    predictor: Document = {"minReplicas": r.min_replicas, "maxReplicas": r.max_replicas}
    predictor.update({"scaleMetric": "cpu", "scaleMetricType": "Utilization", "scaleTarget": 70})
    if r.gpus:
        predictor["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
        predictor["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    predictor["model"] = _model(spec, storage_uri)
    return predictor


def inference_service(spec: RenderSpec) -> Document:
    mode = "Standard" if spec.kserve_mode == "standard" else "Knative"
    meta_annotations = {MODE: mode, **audit_annotations(spec, scrape=False)}
    meta_annotations["serving.kserve.io/enable-prometheus-scraping"] = "true"
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": spec.model.replace(".", "-").replace("_", "-"),
            "namespace": spec.namespace,
            "labels": labels(spec),
            "annotations": meta_annotations,
        },
        "spec": _isvc_spec(spec),
    }


def _isvc_spec(spec: RenderSpec) -> Document:
    """The predictor, and the canary in the form the mode takes."""
    canary = spec.canary
    if canary is None:
        return {"predictor": _predictor(spec, spec.storage_uri)}
    uri = canary_uri(spec)
    if spec.kserve_mode == "knative":  # the new revision takes N %, the previous keeps the rest
        return {"predictor": {**_predictor(spec, uri), "canaryTrafficPercent": canary.percent}}
    replicas = spec.resources.min_replicas  # a canary runs fixed replicas (no autoscaling)
    entries = [_canary_entry(f"v{canary.version}", "canary", canary.percent, replicas,
                             _model(spec, uri, f"v{canary.version}"))]  # fmt: skip
    if canary.baseline:  # the stable version again, as much traffic as the canary
        name = f"v{spec.version}-baseline"
        model = _model(spec, spec.storage_uri, name)
        entries.append(_canary_entry(name, "baseline", canary.percent, replicas, model))
    return {
        "predictor": {**_predictor(spec, spec.storage_uri), "name": f"v{spec.version}"},
        "canary": entries,
    }


def _canary_entry(name: str, track: str, percent: int, replicas: int, model: Document) -> Document:
    """One ``spec.canary`` entry; its pods carry ``baton.dev/track`` (canary or baseline),
    which a scrape configuration can turn into the judge's ``variant`` label."""
    return {
        "trafficPercent": percent,
        "predictor": {"name": name, "minReplicas": replicas, "labels": {TRACK: track},
                      "model": model},
    }  # fmt: skip


def canary_uri(spec: RenderSpec) -> str:
    """The canary version's model folder, beside the stable one's (same scheme and root),
    named as the stable one's is (``spec.folder``): the runtime serves both at one precision."""
    assert spec.canary is not None
    root, _, _last = spec.storage_uri.rstrip("/").rpartition("/")
    return f"{root}/{model_folder(spec.canary.digest, spec.precision)}"


def render(spec: RenderSpec) -> dict[str, str]:
    text = yaml_documents(
        header(spec, "KServe runtime and InferenceService"),
        [runtime(spec), inference_service(spec)],
    )
    return {f"kserve/{spec.name}.yaml": text}
