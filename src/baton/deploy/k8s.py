"""Plain Kubernetes: Deployment, Service, HorizontalPodAutoscaler (autoscaling/v2) and
PodDisruptionBudget for one version, in ``k8s/<name>.yaml``."""

from __future__ import annotations

from typing import Any

from baton.deploy.spec import MODEL_PATH, PORT, RenderSpec
from baton.deploy.text import audit_annotations, header, labels, serve_args, yaml_documents

GPU = "nvidia.com/gpu"
USER = 10001
DRAIN_S = 30  # baton serve's --drain-timeout default


def resources(spec: RenderSpec) -> dict[str, Any]:
    """Requests equal to limits (a guaranteed pod: what the audit sized is what runs)."""
    r = spec.resources
    amounts: dict[str, Any] = {"cpu": r.cpu, "memory": r.memory}
    if r.gpus:
        amounts[GPU] = r.gpus
    return {"requests": dict(amounts), "limits": dict(amounts)}


def container_security() -> dict[str, Any]:
    """The restricted Pod Security Standard, for the container."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": USER,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def container(spec: RenderSpec) -> dict[str, Any]:
    return {
        "name": "baton",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["baton"],
        "args": serve_args(),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "env": [{"name": "BATON_HOME", "value": "/tmp/baton"}],
        "resources": resources(spec),
        # a large model may take minutes to load: the startup probe covers 10 minutes
        "startupProbe": _probe("/v2/health/ready", 5, 120),
        "readinessProbe": _probe("/v2/health/ready", 5, 3),
        "livenessProbe": _probe("/v2/health/live", 10, 3),
        "securityContext": container_security(),
        "volumeMounts": _mounts(spec),
    }


def _mounts(spec: RenderSpec) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if spec.model_from == "volume":
        mounts.append({"name": "model", "mountPath": MODEL_PATH, "readOnly": True})
    return mounts


def pod_spec(spec: RenderSpec) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER,
            "runAsGroup": USER,
            "fsGroup": USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": DRAIN_S + 10,
        "containers": [container(spec)],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    if spec.model_from == "volume":
        claim = {"claimName": "baton-artifacts", "readOnly": True}
        pod["volumes"].append({"name": "model", "persistentVolumeClaim": claim})
        pod["containers"][0]["volumeMounts"][-1]["subPath"] = spec.digest
    if spec.resources.gpus:
        pod["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
        pod["tolerations"] = [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
    return pod


def _meta(spec: RenderSpec, scrape: bool = False) -> dict[str, Any]:
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": labels(spec),
        "annotations": audit_annotations(spec, scrape=scrape),
    }


def documents(spec: RenderSpec) -> list[dict[str, Any]]:
    selector = {"app.kubernetes.io/name": spec.name, "baton.dev/track": "stable"}
    r = spec.resources
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(spec),
        "spec": {
            "replicas": r.replicas,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(spec), "annotations": audit_annotations(spec)},
                "spec": pod_spec(spec),
            },
        },
    }  # fmt: skip
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(spec),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.name},
            "minReplicas": r.min_replicas,
            "maxReplicas": r.max_replicas,
            "metrics": [{"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
        },
    }  # fmt: skip
    pdb = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(spec),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
    }
    return [deployment, service, hpa, pdb]


def render(spec: RenderSpec) -> dict[str, str]:
    """``{relative path: text}`` for this target."""
    text = yaml_documents(header(spec, "Kubernetes objects"), documents(spec))
    return {f"k8s/{spec.name}.yaml": text}
