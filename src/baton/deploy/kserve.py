"""KServe: a ClusterServingRuntime running baton's V2 server, and an InferenceService.

Standard mode (KServe's default since 0.15) is rendered explicitly, because the canary
list of KServe 0.20 (``spec.canary``) is accepted only there. ``--kserve-mode knative``
renders the Serverless form, where a canary is the legacy ``canaryTrafficPercent`` on the
predictor (KServe keeps the previous revision for the rest of the traffic).
"""

from __future__ import annotations

from typing import Any

from baton.deploy.k8s import container_security, resources
from baton.deploy.spec import PORT, RenderSpec
from baton.deploy.text import audit_annotations, header, labels, serve_args, yaml_documents

RUNTIME = "baton-v2"
FORMAT = {"name": "baton", "version": "1"}
MODE = "serving.kserve.io/deploymentMode"


def runtime(spec: RenderSpec) -> dict[str, Any]:
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
                "args": serve_args(),
                "env": [{"name": "BATON_HOME", "value": "/tmp/baton"}],
                "ports": [{"containerPort": PORT, "protocol": "TCP"}],
                "resources": resources(spec),
                "securityContext": container_security(),
            }],
        },
    }  # fmt: skip


def _model(spec: RenderSpec, storage_uri: str, name: str | None = None) -> dict[str, Any]:
    model: dict[str, Any] = {"modelFormat": dict(FORMAT)}
    if name is not None:
        model["name"] = name
    model.update({
        "runtime": RUNTIME,
        "protocolVersion": "v2",
        "storageUri": storage_uri,
        "resources": resources(spec),
    })  # fmt: skip
    return model


def _predictor(spec: RenderSpec, storage_uri: str) -> dict[str, Any]:
    r = spec.resources
    predictor: dict[str, Any] = {"minReplicas": r.min_replicas, "maxReplicas": r.max_replicas}
    predictor.update({"scaleMetric": "cpu", "scaleMetricType": "Utilization", "scaleTarget": 70})
    if r.gpus:
        predictor["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
        predictor["tolerations"] = [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    predictor["model"] = _model(spec, storage_uri)
    return predictor


def inference_service(spec: RenderSpec) -> dict[str, Any]:
    mode = "Standard" if spec.kserve_mode == "standard" else "Knative"
    meta_annotations = {MODE: mode, **audit_annotations(spec, scrape=False)}
    meta_annotations["serving.kserve.io/enable-prometheus-scraping"] = "true"
    body: dict[str, Any] = {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": spec.model.replace(".", "-").replace("_", "-"),
            "namespace": spec.namespace,
            "labels": labels(spec),
            "annotations": meta_annotations,
        },
        "spec": {"predictor": _predictor(spec, spec.storage_uri)},
    }
    canary = spec.canary
    if canary is None:
        return body
    uri = canary_uri(spec)
    if spec.kserve_mode == "knative":  # the new revision takes N %, the previous keeps the rest
        predictor = body["spec"]["predictor"]
        predictor["canaryTrafficPercent"] = canary.percent
        predictor["model"]["storageUri"] = uri
        return body
    name = f"v{canary.version}"
    replicas = spec.resources.min_replicas  # a canary runs fixed replicas (no autoscaling)
    body["spec"]["canary"] = [{
        "trafficPercent": canary.percent,
        "predictor": {"name": name, "minReplicas": replicas, "model": _model(spec, uri, name)},
    }]  # fmt: skip
    body["spec"]["predictor"]["name"] = f"v{spec.version}"
    return body


def canary_uri(spec: RenderSpec) -> str:
    """The canary version's model folder, beside the stable one's (same scheme and root)."""
    assert spec.canary is not None
    root, _, _last = spec.storage_uri.rstrip("/").rpartition("/")
    return f"{root}/{spec.canary.digest}"


def render(spec: RenderSpec) -> dict[str, str]:
    text = yaml_documents(
        header(spec, "KServe runtime and InferenceService"),
        [runtime(spec), inference_service(spec)],
    )
    return {f"kserve/{spec.name}.yaml": text}
