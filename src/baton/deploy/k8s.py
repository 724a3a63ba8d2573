"""Plain Kubernetes: Deployment, Service, HorizontalPodAutoscaler (autoscaling/v2) and
PodDisruptionBudget for one version, in ``k8s/<name>.yaml``."""

from __future__ import annotations

from baton.deploy.command import serve_command
from baton.deploy.spec import MODEL_PATH, PORT, RenderSpec
from baton.deploy.text import Document, audit_annotations, header, labels, yaml_documents

GPU = "nvidia.com/gpu"
USER = 10001
DRAIN_S = 30  # baton serve's --drain-timeout default


def resources(spec: RenderSpec) -> Document:
    """Requests equal to limits (a guaranteed pod: what the audit sized is what runs)."""
    r = spec.resources
    amounts: dict[str, str | int] = {"cpu": r.cpu, "memory": r.memory}
    if r.gpus:
        amounts[GPU] = r.gpus
    return {"requests": dict(amounts), "limits": dict(amounts)}


def container_security() -> Document:
    """The restricted Pod Security Standard, for the container."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": USER,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _probe(path: str, period: int, failures: int) -> Document:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def container_ports(spec: RenderSpec, http_name: str | None = "http") -> list[Document]:
    """The HTTP port, and the gRPC port when one is rendered (both named then: a Service
    with two ports needs names, and ``grpc`` tells a mesh the protocol)."""
    http: Document = {"containerPort": PORT, "protocol": "TCP"}
    if http_name is not None or spec.grpc_port is not None:
        http = {"name": http_name or "http", **http}
    if spec.grpc_port is None:
        return [http]
    return [http, {"name": "grpc", "containerPort": spec.grpc_port, "protocol": "TCP"}]


def container(spec: RenderSpec) -> Document:
    return {
        "name": "baton",
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["baton"],
        "args": serve_command(spec).args(),
        "ports": container_ports(spec),
        "env": [{"name": "BATON_HOME", "value": "/tmp/baton"}],
        "resources": resources(spec),
        # a large model may take minutes to load: the startup probe covers 10 minutes
        "startupProbe": _probe("/v2/health/ready", 5, 120),
        "readinessProbe": _probe("/v2/health/ready", 5, 3),
        "livenessProbe": _probe("/v2/health/live", 10, 3),
        "securityContext": container_security(),
        "volumeMounts": _mounts(spec),
    }


def _mounts(spec: RenderSpec) -> list[Document]:
    mounts: list[Document] = [{"name": "tmp", "mountPath": "/tmp"}]
    if spec.model_from == "volume":  # the claim holds one folder per model (spec.folder)
        mounts.append(
            {"name": "model", "mountPath": MODEL_PATH, "readOnly": True, "subPath": spec.folder}
        )
    return mounts


def _volumes(spec: RenderSpec) -> list[Document]:
    volumes: list[Document] = [{"name": "tmp", "emptyDir": {}}]
    if spec.model_from == "volume":
        claim = {"claimName": "baton-artifacts", "readOnly": True}
        volumes.append({"name": "model", "persistentVolumeClaim": claim})
    return volumes


def pod_spec(spec: RenderSpec) -> Document:
    pod: Document = {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER,
            "runAsGroup": USER,
            "fsGroup": USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": DRAIN_S + 10,
        "containers": [container(spec)],
        "volumes": _volumes(spec),
    }
    if spec.resources.gpus:
        pod["nodeSelector"] = {"nvidia.com/gpu.present": "true"}
        pod["tolerations"] = [{"key": GPU, "operator": "Exists", "effect": "NoSchedule"}]
    return pod


def _meta(spec: RenderSpec, scrape: bool = False) -> Document:
    return {
        "name": spec.name,
        "namespace": spec.namespace,
        "labels": labels(spec),
        "annotations": audit_annotations(spec, scrape=scrape),
    }


def _service_ports(spec: RenderSpec) -> list[Document]:
    ports: list[Document] = [
        {"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}
    ]
    if spec.grpc_port is not None:
        ports.append({
            "name": "grpc", "port": spec.grpc_port, "targetPort": "grpc", "protocol": "TCP",
            "appProtocol": "grpc",
        })  # fmt: skip
    return ports


def documents(spec: RenderSpec) -> list[Document]:
    selector = {"app.kubernetes.io/name": spec.name, "baton.dev/track": "stable"}
    r = spec.resources
    deployment: Document = {
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
    service: Document = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(spec),
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": _service_ports(spec),
        },
    }
    hpa: Document = {
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
    pdb: Document = {
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
